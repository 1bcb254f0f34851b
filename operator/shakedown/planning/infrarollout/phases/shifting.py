"""Phase 5, Shifting: the strategy moves production step by step, judged as it goes."""

from __future__ import annotations

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout import production_jobs
from shakedown.planning.infrarollout.health import pause_message
from shakedown.planning.infrarollout.phases.judging import judge_production
from shakedown.planning.infrarollout.steering import HOLD_NOTE, PROMOTE_ANNOTATION, held
from shakedown.planning.infrarollout.step import Observed, Step, shift_context, strategy_for


def plan_shifting(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    ctx = shift_context(spec, observed, step)
    strategy = strategy_for(spec)
    result = strategy.shift(ctx)
    if judge_production(spec, observed, step, ctx, strategy, result.judged_pods):
        return
    moving = result.current_step not in (None, step.status.current_step)
    if held(observed.annotations) and (result.actions or result.done or moving):
        step.update(waiting_for=HOLD_NOTE)
        step.poll()
        return
    # Old pods stay until production's Jobs have spoken.
    checking = production_jobs.running(spec, step.status.checks)
    live = production_jobs.change_is_live(spec, step)
    if checking and live and (result.actions or result.done or moving):
        step.update(waiting_for=f"production checks: {', '.join(checking)}")
        step.poll()
        return
    if result.handled_promote:
        step.update(handled_promote=observed.annotations.get(PROMOTE_ANNOTATION))
        step.event(
            "Promoted", f"revision {step.status.revision}: pause skipped by shakedown.dev/promote"
        )
    if result.current_step is not None and result.current_step != step.status.current_step:
        step.update(current_step=result.current_step, step_started_at=result.step_started_at)
        step.event(
            "Step", f"revision {step.status.revision}: canary step {result.current_step + 1}"
        )
        step.again = True
        return
    if result.done:
        step.enter(
            RolloutPhase.BAKING, f"production shifted; baking for {spec.bake}", waiting_for=None
        )
        return
    step.actions.extend(result.actions)
    waiting_for = result.waiting_for
    if result.paused_until is not None:
        waiting_for = step.paused = pause_message(
            observed.name, step.status.current_step, result.paused_until
        )
    step.update(waiting_for=waiting_for or None)
    step.wake(result.wake_at)
    if result.actions:
        step.again = True
    else:
        step.poll()
