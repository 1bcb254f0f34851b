"""Phase 6, Baking: production on the change for ``spec.bake``, judged, then finalized."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import RolloutPhase, RolloutResult
from shakedown.planning.infrarollout import production_jobs
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.phases.judging import judge_production


def plan_baking(run: RunContext) -> None:
    ctx = run.shift_context()
    strategy = run.strategy
    started = run.status.phase_started_at or run.now
    until = started + timedelta(seconds=parse_duration(run.spec.bake))
    pods = strategy.bake_pods(ctx)
    if judge_production(run, ctx, strategy, pods):
        return
    if run.now < until:
        run.step.update(waiting_for=f"baking until {until:%H:%M:%S}")
        run.step.wake(until)
        run.step.poll()
        return
    checking = production_jobs.running(run)
    if checking:
        run.step.update(waiting_for=f"baked; production checks: {', '.join(checking)}")
        run.step.poll()
        return
    result = strategy.finalize(ctx)
    if not result.done:
        run.step.actions.extend(result.actions)
        run.step.update(waiting_for=result.waiting_for or None)
        run.step.again = bool(result.actions)
        run.step.poll()
        return
    run.finish(RolloutPhase.SUCCEEDED, RolloutResult.SUCCEEDED, "baked; production runs the change")
