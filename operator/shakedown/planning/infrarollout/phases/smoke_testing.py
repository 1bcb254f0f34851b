"""Phase 4, SmokeTesting: readiness, then the checks; the prove-only ending (Validated).

The judgements are in ``smoke`` and ``evidence``; this records them in
``status.checks`` and decides the next phase.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import CheckPhase, RolloutPhase, RolloutResult
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.evidence import Evidence, judge_shadow
from shakedown.planning.infrarollout.phases.shadowing import shadow_expired
from shakedown.planning.infrarollout.revision import resolve_change
from shakedown.planning.infrarollout.smoke import (
    READY_CHECK,
    ReadyJudgement,
    candidate_image,
    check_requests,
    initial_checks,
    judge_ready,
    ready_for_seconds,
    record_outcome,
    running_check,
    set_check,
)


def _judge_ready(run: RunContext) -> ReadyJudgement:
    """The shadow's readiness by the spec's rules, as of this step."""
    return judge_ready(
        run.observed.shadow_objects,
        run.observed.shadow_pods,
        ready_for=ready_for_seconds(run.spec),
        max_restarts=run.spec.rollback.max_restarts,
        now=run.now,
    )


def plan_smoke_testing(run: RunContext) -> None:
    if shadow_expired(run):
        run.fail("ShadowExpired", f"shadow.ttl {run.spec.shadow.ttl} ran out")
        return
    if run.observed.shadow_namespace is None:
        run.fail("ShadowDeleted", f"shadow namespace {run.status.shadow_namespace} is gone")
        return
    checks = list(run.status.checks) or initial_checks(run.spec)
    ready = next((c for c in checks if c.name == READY_CHECK), None)
    readiness = ready is not None and ready.phase is not CheckPhase.PASSED
    started = run.status.phase_started_at or run.now
    deadline = started + timedelta(seconds=parse_duration(run.spec.smoke_tests.ready_timeout))
    verdict = judge_shadow(
        run.observed.shadow_pods,
        run.observed.shadow_events,
        now=run.now,
        readiness=readiness,
        ready_deadline=deadline,
        ready_timeout=run.spec.smoke_tests.ready_timeout,
    )
    if verdict.broken is None and readiness and run.now >= deadline:
        # No pod to blame (none created, or too few): readiness itself timed out.
        judgement = _judge_ready(run)
        if not judgement.passed and judgement.recheck_at is None:
            verdict = replace(
                verdict,
                broken=Evidence(
                    "",
                    "ReadyTimeout",
                    f"not Ready within smokeTests.readyTimeout "
                    f"{run.spec.smoke_tests.ready_timeout}: {judgement.message}",
                    at=deadline,
                ),
            )
    if verdict.broken is not None:
        evidence = verdict.broken
        name = READY_CHECK if readiness else running_check(checks)
        checks = set_check(checks, name, CheckPhase.FAILED, evidence.message, run.now)
        run.step.update(checks=checks)
        run.step.event(
            "SmokeCheckFailed", f"revision {run.status.revision}: {evidence.message}", warning=True
        )
        run.fail(evidence.reason, f"shadow broken: {evidence.message}")
        return
    run.step.wake(verdict.recheck_at)
    if readiness:
        judgement = _judge_ready(run)
        if judgement.failed:
            checks = set_check(checks, READY_CHECK, CheckPhase.FAILED, judgement.message, run.now)
            run.step.update(checks=checks)
            run.fail("SmokeTestFailed", f"smoke test ready failed: {judgement.message}")
            return
        if not judgement.passed:
            checks = set_check(checks, READY_CHECK, CheckPhase.RUNNING, judgement.message, run.now)
            run.step.update(checks=checks, waiting_for=f"shadow: {judgement.message}")
            run.step.wake(judgement.recheck_at)
            run.step.poll()
            return
        checks = set_check(checks, READY_CHECK, CheckPhase.PASSED, judgement.message, run.now)
        run.step.event(
            "SmokeCheckPassed", f"revision {run.status.revision}: ready: {judgement.message}"
        )
    for name, outcome in run.observed.check_outcomes.items():
        check = next((c for c in checks if c.name == name), None)
        if check is None or check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        checks = record_outcome(checks, name, outcome, run.now)
        run.step.event(
            "SmokeCheckPassed" if outcome.passed else "SmokeCheckFailed",
            f"revision {run.status.revision}: {name}: {outcome.message}",
            warning=not outcome.passed,
        )
    failed = [c for c in checks if c.phase is CheckPhase.FAILED]
    if failed:
        run.step.update(checks=checks)
        first = failed[0]
        run.fail("SmokeTestFailed", f"smoke test {first.name} failed: {first.message}")
        return
    if all(c.phase is CheckPhase.PASSED for c in checks):
        run.step.update(checks=checks)
        if not run.spec.promote:
            run.finish(
                RolloutPhase.VALIDATED,
                RolloutResult.VALIDATED,
                "smoke tests passed; production untouched (promote: false)",
            )
            return
        run.step.enter(
            RolloutPhase.SHIFTING,
            f"smoke tests passed; shifting production ({run.spec.strategy.type.value})",
            shift_started=True,
            shift_started_at=run.now,
            current_step=None,
            step_started_at=None,
        )
        return
    # Start (or keep running) the other checks, marked Running first.
    change = resolve_change(run.spec, run.observed.image_source)
    requests = check_requests(
        run.spec, checks, namespace=run.status.shadow_namespace or "", revision=run.status.revision
    )
    jobs = {j.name: j for j in run.spec.smoke_tests.jobs}
    for request in requests:
        image = None
        if request.name in jobs:
            job = jobs[request.name]
            image = job.image or candidate_image(change, job.container, run.observed.shadow_objects)
        run.step.actions.append(replace(request, image=image))
        check = next(c for c in checks if c.name == request.name)
        if check.phase is CheckPhase.PENDING:
            checks = set_check(checks, request.name, CheckPhase.RUNNING, "running", run.now)
    running = [c.name for c in checks if c.phase is CheckPhase.RUNNING]
    run.step.update(checks=checks, waiting_for=f"smoke tests: {', '.join(running)}")
    run.step.poll()
