"""Judging production while it runs the change (Shifting and Baking): pods, metrics, Jobs.

A failure here starts the rollback, so both phases share one judge.
"""

from __future__ import annotations

from collections.abc import Sequence

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import CheckStatus, CheckType
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.bake import Verdict, judge_pods
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.objects import Obj
from shakedown.planning.infrarollout.production_checks import Start, judge_production_checks
from shakedown.planning.infrarollout.production_jobs import PREFIX, judge_production_jobs
from shakedown.planning.infrarollout.strategies import ShiftContext, ShiftStrategy


def judge_production(
    run: RunContext, ctx: ShiftContext, strategy: ShiftStrategy, pods: Sequence[Obj]
) -> bool:
    """Judge production pods; start the rollback on failure (True: handled)."""
    since = run.status.shift_started_at or run.status.phase_started_at or run.now
    verdict = judge_pods(
        pods,
        not_ready_for=float(parse_duration(run.spec.rollback.not_ready_for)),
        max_restarts=run.spec.rollback.max_restarts,
        since=since,
        now=run.now,
    )
    if not verdict.failed:
        run.step.wake(verdict.recheck_at)
        verdict = _production_metrics(run)
    if not verdict.failed:
        verdict = judge_production_jobs(run, ctx)
    if not verdict.failed:
        return False
    run.step.failure = verdict
    run.step.update(failure_observed_at=verdict.observable_at)
    run.fail(verdict.reason, verdict.message, ctx=ctx, strategy=strategy)
    return True


#: Status name prefix of the checks judged against production (``production_jobs`` too).
PRODUCTION_CHECK_PREFIX = PREFIX


def _production_metrics(run: RunContext) -> Verdict:
    """``rollback.metrics`` against production: start them, record them, fail on the first."""
    metrics = run.spec.rollback.metrics
    if not metrics:
        return Verdict(False)

    def start(index: int, check: CheckStatus) -> Start:
        action = RunCheck(
            check.name,
            CheckType.METRIC,
            run.observed.namespace,
            run.status.revision,
            metrics[index].to_api(),
            field=f"spec.rollback.metrics[{index}]",
        )
        return Start(action, "measuring production")

    names = [f"{PRODUCTION_CHECK_PREFIX}{m.name}" for m in metrics]
    return judge_production_checks(run, names, CheckType.METRIC, start, "MetricCheckFailed")
