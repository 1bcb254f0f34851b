"""RollingBack: restore production from the snapshot until it is healthy or time runs out."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase, RolloutResult
from shakedown.planning.infrarollout.endings import finish
from shakedown.planning.infrarollout.rollback import plan_rollback
from shakedown.planning.infrarollout.step import Observed, Step, shift_context, strategy_for


def plan_rolling_back(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    if step.status.undo_revision and observed.snapshot is None:
        missing = f"the snapshot of revision {step.status.undo_revision} is missing"
        finish(observed, step, RolloutPhase.FAILED, RolloutResult.FAILED, f"undo: {missing}")
        return
    ctx = shift_context(spec, observed, step)
    result = plan_rollback(ctx, strategy_for(spec))
    if result.actions:
        step.actions.extend(result.actions)
        step.update(waiting_for=result.waiting_for)
        step.again = True
        return
    reason = step.status.rollback_reason or "rolled back"
    if not result.done:
        started = step.status.phase_started_at or step.now
        if step.now < started + timedelta(seconds=parse_duration(spec.timeout)):
            step.update(waiting_for=f"rollback: {result.waiting_for}")
            step.poll()
            return
        health = f"production restored but not healthy after {spec.timeout}: {result.waiting_for}"
    else:
        health = "production healthy on the snapshot"
    finish(
        observed,
        step,
        RolloutPhase.ROLLED_BACK,
        RolloutResult.ROLLED_BACK,
        f"rolled back: {reason}; {health}",
        warning=True,
        history_reason=reason,
    )
