"""Judging production while it runs the change (Shifting and Baking): pods, metrics, Jobs.

A failure here starts the rollback, so both phases share one judge.
"""

from __future__ import annotations

from collections.abc import Sequence

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import CheckPhase, CheckStatus, CheckType, InfraRolloutSpec
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.bake import Verdict, judge_pods
from shakedown.planning.infrarollout.endings import fail
from shakedown.planning.infrarollout.objects import Obj
from shakedown.planning.infrarollout.production_jobs import PREFIX, judge_production_jobs
from shakedown.planning.infrarollout.smoke import record_outcome, set_check
from shakedown.planning.infrarollout.step import Observed, Step
from shakedown.planning.infrarollout.strategies import ShiftContext, ShiftStrategy


def judge_production(
    spec: InfraRolloutSpec,
    observed: Observed,
    step: Step,
    ctx: ShiftContext,
    strategy: ShiftStrategy,
    pods: Sequence[Obj],
) -> bool:
    """Judge production pods; start the rollback on failure (True: handled)."""
    since = step.status.shift_started_at or step.status.phase_started_at or step.now
    verdict = judge_pods(
        pods,
        not_ready_for=float(parse_duration(spec.rollback.not_ready_for)),
        max_restarts=spec.rollback.max_restarts,
        since=since,
        now=step.now,
    )
    if not verdict.failed:
        step.wake(verdict.recheck_at)
        verdict = _production_metrics(spec, observed, step)
    if not verdict.failed:
        verdict = judge_production_jobs(spec, observed, step, ctx)
    if not verdict.failed:
        return False
    step.failure = verdict
    step.update(failure_observed_at=verdict.observable_at)
    fail(spec, observed, step, verdict.reason, verdict.message, ctx=ctx, strategy=strategy)
    return True


#: Status name prefix of the checks judged against production (``production_jobs`` too).
PRODUCTION_CHECK_PREFIX = PREFIX


def _production_metrics(spec: InfraRolloutSpec, observed: Observed, step: Step) -> Verdict:
    """``rollback.metrics`` against production: start them, record them, fail on the first."""
    wanted = {f"{PRODUCTION_CHECK_PREFIX}{m.name}": m for m in spec.rollback.metrics}
    paths = {f"{PRODUCTION_CHECK_PREFIX}{m.name}": i for i, m in enumerate(spec.rollback.metrics)}
    if not wanted:
        return Verdict(False)
    checks = list(step.status.checks)
    known = {c.name for c in checks}
    checks += [CheckStatus(name=n, type=CheckType.METRIC) for n in wanted if n not in known]
    failure: Verdict = Verdict(False)
    for name, metric in wanted.items():
        check = next(c for c in checks if c.name == name)
        if check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        outcome = observed.check_outcomes.get(name)
        if outcome is None:
            step.actions.append(
                RunCheck(
                    name,
                    CheckType.METRIC,
                    observed.namespace,
                    step.status.revision,
                    metric.to_api(),
                    field=f"spec.rollback.metrics[{paths[name]}]",
                )
            )
            if check.phase is CheckPhase.PENDING:
                checks = set_check(
                    checks, name, CheckPhase.RUNNING, "measuring production", step.now
                )
            continue
        checks = record_outcome(checks, name, outcome, step.now)
        if not outcome.passed and not failure.failed:
            failure = Verdict(
                True, "MetricCheckFailed", f"{name}: {outcome.message}", observable_at=step.now
            )
    step.update(checks=checks)
    return failure
