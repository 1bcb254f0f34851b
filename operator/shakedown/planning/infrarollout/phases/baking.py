"""Phase 6, Baking: production on the change for ``spec.bake``, judged, then finalized."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase, RolloutResult
from shakedown.planning.infrarollout import production_jobs
from shakedown.planning.infrarollout.endings import finish
from shakedown.planning.infrarollout.phases.judging import judge_production
from shakedown.planning.infrarollout.step import Observed, Step, shift_context, strategy_for


def plan_baking(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    ctx = shift_context(spec, observed, step)
    strategy = strategy_for(spec)
    started = step.status.phase_started_at or step.now
    until = started + timedelta(seconds=parse_duration(spec.bake))
    pods = strategy.bake_pods(ctx)
    if judge_production(spec, observed, step, ctx, strategy, pods):
        return
    if step.now < until:
        step.update(waiting_for=f"baking until {until:%H:%M:%S}")
        step.wake(until)
        step.poll()
        return
    checking = production_jobs.running(spec, step.status.checks)
    if checking:
        step.update(waiting_for=f"baked; production checks: {', '.join(checking)}")
        step.poll()
        return
    result = strategy.finalize(ctx)
    if not result.done:
        step.actions.extend(result.actions)
        step.update(waiting_for=result.waiting_for or None)
        step.again = bool(result.actions)
        step.poll()
        return
    finish(
        observed,
        step,
        RolloutPhase.SUCCEEDED,
        RolloutResult.SUCCEEDED,
        "baked; production runs the change",
    )
