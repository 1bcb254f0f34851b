"""How a revision ends: fail (rolling back if production was touched), finish, clean up.

Every phase, the guards in ``plan`` and deletion end a revision through these,
so history, Events and cleanup are the same whichever way it ends.
"""

from __future__ import annotations

from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    RolloutHistoryEntry,
    RolloutPhase,
    RolloutResult,
)
from shakedown.planning.infrarollout.actions import DeleteNamespace
from shakedown.planning.infrarollout.change import ChangeError
from shakedown.planning.infrarollout.locking import plan_release
from shakedown.planning.infrarollout.objects import Meta
from shakedown.planning.infrarollout.rollback import plan_rollback
from shakedown.planning.infrarollout.step import Observed, Step, shift_context, strategy_for
from shakedown.planning.infrarollout.strategies import ShiftContext, ShiftStrategy

HISTORY_LIMIT = 10


def fail(
    spec: InfraRolloutSpec,
    observed: Observed,
    step: Step,
    reason: str,
    message: str,
    *,
    aborted: bool = False,
    ctx: ShiftContext | None = None,
    strategy: ShiftStrategy | None = None,
) -> None:
    """A failure: roll back if production was touched (and allowed), else end the revision."""
    status = step.status
    text = f"{reason}: {message}"
    if status.shift_started and (spec.rollback.automatic or aborted or observed.deleting):
        step.enter_rollback(text)
        # Act in the same round trip: status first (done by the caller), then the restore.
        try:
            context = ctx or shift_context(spec, observed, step)
        except ChangeError:
            return
        rollback = plan_rollback(context, strategy or strategy_for(spec))
        step.actions.extend(rollback.actions)
        return
    step.update(failure_reason=reason)
    if aborted:
        finish(observed, step, RolloutPhase.ABORTED, RolloutResult.ABORTED, text, warning=True)
        return
    finish(observed, step, RolloutPhase.FAILED, RolloutResult.FAILED, text, warning=True)


def finish(
    observed: Observed,
    step: Step,
    phase: RolloutPhase,
    result: RolloutResult,
    message: str,
    *,
    warning: bool = False,
    history_reason: str | None = None,
) -> None:
    status = step.status
    entry = RolloutHistoryEntry(
        revision=status.revision,
        result=result,
        started_at=status.started_at,
        finished_at=step.now,
        reason=history_reason if history_reason is not None else message,
        change_hash=status.change_hash or "",
    )
    history = [entry, *[h for h in status.history if h.revision != status.revision]][:HISTORY_LIMIT]
    step.enter(
        phase,
        message,
        warning=warning,
        history=history,
        waiting_for=None,
        current_step=status.current_step,
    )
    cleanup(observed, step)


def cleanup(observed: Observed, step: Step) -> None:
    """Leftovers of an ended revision: the shadow namespace and our locks."""
    ns = observed.shadow_namespace
    if ns is not None and not Meta.of(ns).deleting:
        step.actions.append(DeleteNamespace(Meta.of(ns).name))
    step.actions.extend(plan_release(observed.locks, me=observed.holder))
