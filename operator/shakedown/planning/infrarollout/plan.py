"""The InfraRollout state machine: (spec, status, observed, now) -> decision.

One pure function drives every phase. It returns the next status (written
before anything is done, so a restarted operator knows what was under way),
the Events for the transitions, and the actions for the adapters, each keyed
so that doing it again changes nothing. Each phase's body is a function in
``phases/`` (built on the parts: snapshot, shadow, smoke, strategies, bake,
rollback, locking), given one ``context.RunContext`` for the round; endings
are its methods, conditions are in ``health``. This module only sequences
them: guards that end any revision in flight (abort, superseded, timeout),
then the function of the phase, then the Decision:

    Pending (locks) -> Snapshotting -> Shadowing -> SmokeTesting -> Shifting
      -> Baking -> Succeeded
    any failure before Shifting              -> Failed (production untouched)
    promote: false, smoke tests passed        -> Validated (production untouched)
    any failure from Shifting on (automatic) -> RollingBack -> RolledBack
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus, RolloutPhase
from shakedown.planning.infrarollout.context import (
    HISTORY_LIMIT,
    RunContext,
    strategy_for,
    target_keys,
)
from shakedown.planning.infrarollout.health import pause_message
from shakedown.planning.infrarollout.phases.baking import plan_baking
from shakedown.planning.infrarollout.phases.deletion import plan_deletion
from shakedown.planning.infrarollout.phases.idle import plan_finished, plan_idle
from shakedown.planning.infrarollout.phases.pending import lock_keys, plan_pending
from shakedown.planning.infrarollout.phases.rolling_back import plan_rolling_back
from shakedown.planning.infrarollout.phases.shadowing import plan_shadowing
from shakedown.planning.infrarollout.phases.shifting import plan_shifting
from shakedown.planning.infrarollout.phases.smoke_testing import plan_smoke_testing
from shakedown.planning.infrarollout.phases.snapshotting import plan_snapshotting
from shakedown.planning.infrarollout.revision import check_revision
from shakedown.planning.infrarollout.steering import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from shakedown.planning.infrarollout.step import POLL_SECONDS, Decision, Observed, Step


def plan(
    spec: InfraRolloutSpec, status: InfraRolloutStatus, observed: Observed, now: datetime
) -> Decision:
    run = RunContext(spec, observed, Step(status, now, observed.generation))
    step = run.step
    phase = status.phase
    in_flight = status.revision > 0 and not phase.finished

    if observed.deleting:
        return plan_deletion(run)

    if not in_flight:
        plan_idle(run)
        return step.decision()

    revision = check_revision(spec, observed.image_source)
    abort = observed.annotations.get(ABORT_ANNOTATION)
    if abort and abort != status.handled_abort and phase is not RolloutPhase.ROLLING_BACK:
        step.update(handled_abort=abort)
        run.fail("Aborted", "aborted by shakedown.dev/abort", aborted=True)
        return step.decision()
    if (
        revision.wanted_hash is not None
        and revision.wanted_hash != status.change_hash
        and phase is not RolloutPhase.ROLLING_BACK
    ):
        run.fail("Superseded", "superseded by a newer change", aborted=True)
        return step.decision()
    started = status.started_at
    if (
        started is not None
        and phase
        in (
            RolloutPhase.SNAPSHOTTING,
            RolloutPhase.SHADOWING,
            RolloutPhase.SMOKE_TESTING,
            RolloutPhase.SHIFTING,
        )
        and now >= started + timedelta(seconds=parse_duration(spec.timeout))
    ):
        run.fail("Timeout", f"spec.timeout {spec.timeout} exceeded in {phase.value}")
        return step.decision()

    handler = _PHASES[phase]
    handler(run)
    return step.decision()


_PHASES = {
    RolloutPhase.PENDING: plan_pending,
    RolloutPhase.SNAPSHOTTING: plan_snapshotting,
    RolloutPhase.SHADOWING: plan_shadowing,
    RolloutPhase.SMOKE_TESTING: plan_smoke_testing,
    RolloutPhase.SHIFTING: plan_shifting,
    RolloutPhase.BAKING: plan_baking,
    RolloutPhase.ROLLING_BACK: plan_rolling_back,
    RolloutPhase.SUCCEEDED: plan_finished,
    RolloutPhase.ROLLED_BACK: plan_finished,
    RolloutPhase.FAILED: plan_finished,
    RolloutPhase.ABORTED: plan_finished,
    RolloutPhase.VALIDATED: plan_finished,
}

__all__ = [
    "ABORT_ANNOTATION",
    "HISTORY_LIMIT",
    "POLL_SECONDS",
    "PROMOTE_ANNOTATION",
    "Decision",
    "Observed",
    "lock_keys",
    "pause_message",
    "plan",
    "strategy_for",
    "target_keys",
]
