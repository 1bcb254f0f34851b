"""RollingBack: restore production from the snapshot until it is healthy or time runs out."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import RolloutPhase, RolloutResult
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.rollback import plan_rollback


def plan_rolling_back(run: RunContext) -> None:
    if run.status.undo_revision and run.observed.snapshot is None:
        missing = f"the snapshot of revision {run.status.undo_revision} is missing"
        run.finish(RolloutPhase.FAILED, RolloutResult.FAILED, f"undo: {missing}")
        return
    result = plan_rollback(run.shift_context(), run.strategy)
    if result.actions:
        run.step.actions.extend(result.actions)
        run.step.update(waiting_for=result.waiting_for)
        run.step.again = True
        return
    reason = run.status.rollback_reason or "rolled back"
    if not result.done:
        started = run.status.phase_started_at or run.now
        if run.now < started + timedelta(seconds=parse_duration(run.spec.timeout)):
            run.step.update(waiting_for=f"rollback: {result.waiting_for}")
            run.step.poll()
            return
        timeout = run.spec.timeout
        health = f"production restored but not healthy after {timeout}: {result.waiting_for}"
    else:
        health = "production healthy on the snapshot"
    run.finish(
        RolloutPhase.ROLLED_BACK,
        RolloutResult.ROLLED_BACK,
        f"rolled back: {reason}; {health}",
        warning=True,
        history_reason=reason,
    )
