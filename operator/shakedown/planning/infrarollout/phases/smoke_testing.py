"""Phase 4, SmokeTesting: readiness, then the checks; the prove-only ending (Validated).

The judgements are in ``smoke`` and ``evidence``; this records them in
``status.checks`` and decides the next phase.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import CheckPhase, InfraRolloutSpec, RolloutPhase, RolloutResult
from shakedown.planning.infrarollout.endings import fail, finish
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
from shakedown.planning.infrarollout.step import Observed, Step


def _judge_ready(spec: InfraRolloutSpec, observed: Observed, step: Step) -> ReadyJudgement:
    """The shadow's readiness by the spec's rules, as of this step."""
    return judge_ready(
        observed.shadow_objects,
        observed.shadow_pods,
        ready_for=ready_for_seconds(spec),
        max_restarts=spec.rollback.max_restarts,
        now=step.now,
    )


def plan_smoke_testing(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    status = step.status
    if shadow_expired(step):
        fail(spec, observed, step, "ShadowExpired", f"shadow.ttl {spec.shadow.ttl} ran out")
        return
    if observed.shadow_namespace is None:
        fail(
            spec,
            observed,
            step,
            "ShadowDeleted",
            f"shadow namespace {status.shadow_namespace} is gone",
        )
        return
    checks = list(status.checks) or initial_checks(spec)
    ready = next((c for c in checks if c.name == READY_CHECK), None)
    readiness = ready is not None and ready.phase is not CheckPhase.PASSED
    started = status.phase_started_at or step.now
    deadline = started + timedelta(seconds=parse_duration(spec.smoke_tests.ready_timeout))
    verdict = judge_shadow(
        observed.shadow_pods,
        observed.shadow_events,
        now=step.now,
        readiness=readiness,
        ready_deadline=deadline,
        ready_timeout=spec.smoke_tests.ready_timeout,
    )
    if verdict.broken is None and readiness and step.now >= deadline:
        # No pod to blame (none created, or too few): readiness itself timed out.
        judgement = _judge_ready(spec, observed, step)
        if not judgement.passed and judgement.recheck_at is None:
            verdict = replace(
                verdict,
                broken=Evidence(
                    "",
                    "ReadyTimeout",
                    f"not Ready within smokeTests.readyTimeout "
                    f"{spec.smoke_tests.ready_timeout}: {judgement.message}",
                    at=deadline,
                ),
            )
    if verdict.broken is not None:
        evidence = verdict.broken
        name = READY_CHECK if readiness else running_check(checks)
        checks = set_check(checks, name, CheckPhase.FAILED, evidence.message, step.now)
        step.update(checks=checks)
        step.event(
            "SmokeCheckFailed", f"revision {status.revision}: {evidence.message}", warning=True
        )
        fail(spec, observed, step, evidence.reason, f"shadow broken: {evidence.message}")
        return
    step.wake(verdict.recheck_at)
    if readiness:
        judgement = _judge_ready(spec, observed, step)
        if judgement.failed:
            checks = set_check(checks, READY_CHECK, CheckPhase.FAILED, judgement.message, step.now)
            step.update(checks=checks)
            fail(
                spec,
                observed,
                step,
                "SmokeTestFailed",
                f"smoke test ready failed: {judgement.message}",
            )
            return
        if not judgement.passed:
            checks = set_check(checks, READY_CHECK, CheckPhase.RUNNING, judgement.message, step.now)
            step.update(checks=checks, waiting_for=f"shadow: {judgement.message}")
            step.wake(judgement.recheck_at)
            step.poll()
            return
        checks = set_check(checks, READY_CHECK, CheckPhase.PASSED, judgement.message, step.now)
        step.event("SmokeCheckPassed", f"revision {status.revision}: ready: {judgement.message}")
    for name, outcome in observed.check_outcomes.items():
        check = next((c for c in checks if c.name == name), None)
        if check is None or check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        checks = record_outcome(checks, name, outcome, step.now)
        step.event(
            "SmokeCheckPassed" if outcome.passed else "SmokeCheckFailed",
            f"revision {status.revision}: {name}: {outcome.message}",
            warning=not outcome.passed,
        )
    failed = [c for c in checks if c.phase is CheckPhase.FAILED]
    if failed:
        step.update(checks=checks)
        first = failed[0]
        fail(
            spec,
            observed,
            step,
            "SmokeTestFailed",
            f"smoke test {first.name} failed: {first.message}",
        )
        return
    if all(c.phase is CheckPhase.PASSED for c in checks):
        step.update(checks=checks)
        if not spec.promote:
            finish(
                observed,
                step,
                RolloutPhase.VALIDATED,
                RolloutResult.VALIDATED,
                "smoke tests passed; production untouched (promote: false)",
            )
            return
        step.enter(
            RolloutPhase.SHIFTING,
            f"smoke tests passed; shifting production ({spec.strategy.type.value})",
            shift_started=True,
            shift_started_at=step.now,
            current_step=None,
            step_started_at=None,
        )
        return
    # Start (or keep running) the other checks, marked Running first.
    change = resolve_change(spec, observed.image_source)
    requests = check_requests(
        spec, checks, namespace=status.shadow_namespace or "", revision=status.revision
    )
    jobs = {j.name: j for j in spec.smoke_tests.jobs}
    for request in requests:
        image = None
        if request.name in jobs:
            job = jobs[request.name]
            image = job.image or candidate_image(change, job.container, observed.shadow_objects)
        step.actions.append(replace(request, image=image))
        check = next(c for c in checks if c.name == request.name)
        if check.phase is CheckPhase.PENDING:
            checks = set_check(checks, request.name, CheckPhase.RUNNING, "running", step.now)
    running = [c.name for c in checks if c.phase is CheckPhase.RUNNING]
    step.update(checks=checks, waiting_for=f"smoke tests: {', '.join(running)}")
    step.poll()
