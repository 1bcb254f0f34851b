"""Phase 5, Shifting: the strategy moves production step by step, judged as it goes."""

from __future__ import annotations

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout import production_jobs
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.health import pause_message
from shakedown.planning.infrarollout.phases.judging import judge_production
from shakedown.planning.infrarollout.steering import HOLD_NOTE, PROMOTE_ANNOTATION, held


def plan_shifting(run: RunContext) -> None:
    ctx = run.shift_context()
    strategy = run.strategy
    result = strategy.shift(ctx)
    if judge_production(run, ctx, strategy, result.judged_pods):
        return
    moving = result.current_step not in (None, run.status.current_step)
    if held(run.observed.annotations) and (result.actions or result.done or moving):
        run.step.update(waiting_for=HOLD_NOTE)
        run.step.poll()
        return
    # Old pods stay until production's Jobs have spoken.
    checking = production_jobs.running(run)
    live = production_jobs.change_is_live(run)
    if checking and live and (result.actions or result.done or moving):
        run.step.update(waiting_for=f"production checks: {', '.join(checking)}")
        run.step.poll()
        return
    if result.handled_promote:
        run.step.update(handled_promote=run.observed.annotations.get(PROMOTE_ANNOTATION))
        run.step.event(
            "Promoted", f"revision {run.status.revision}: pause skipped by shakedown.dev/promote"
        )
    if result.current_step is not None and result.current_step != run.status.current_step:
        run.step.update(current_step=result.current_step, step_started_at=result.step_started_at)
        run.step.event(
            "Step", f"revision {run.status.revision}: canary step {result.current_step + 1}"
        )
        run.step.again = True
        return
    if result.done:
        run.step.enter(
            RolloutPhase.BAKING, f"production shifted; baking for {run.spec.bake}", waiting_for=None
        )
        return
    run.step.actions.extend(result.actions)
    waiting_for = result.waiting_for
    if result.paused_until is not None:
        waiting_for = run.step.paused = pause_message(
            run.observed.name, run.status.current_step, result.paused_until
        )
    run.step.update(waiting_for=waiting_for or None)
    run.step.wake(result.wake_at)
    if result.actions:
        run.step.again = True
    else:
        run.step.poll()
