"""Phase 3, Smoke tests in the shadow: readiness first, then HTTP, Job and metric checks.

Readiness is judged here from the observed shadow pods (all Ready, without a
break, for ``readyFor``); a shadow that is evidently broken (a crash, a pull
error, a pod that cannot be scheduled, Ready turning NotReady, nothing Ready by
``readyTimeout``) fails at once, judged by ``evidence.judge_shadow``. The other
checks run as tasks in the operator (``shakedown.checks``); their outcomes come
back as observations and are written to ``status.checks``, so a restarted
operator knows which passed. Any failure ends the revision as Failed before
production is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import CheckPhase, CheckStatus, CheckType, InfraRolloutSpec
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.bake import fatal_waiting, is_live, ready_since, restarts
from shakedown.planning.infrarollout.change import ResolvedChange
from shakedown.planning.infrarollout.objects import (
    WORKLOAD_KINDS,
    Meta,
    Obj,
    ObjKey,
    labels_match,
    pod_spec,
    selector_labels,
)
from shakedown.planning.infrarollout.progress import replica_failure, rollout_progress

READY_CHECK = "ready"


@dataclass(frozen=True)
class CheckOutcome:
    """What a finished check task reports."""

    passed: bool
    message: str
    successes: int = 0
    failures: int = 0
    job: str | None = None


def initial_checks(spec: InfraRolloutSpec) -> list[CheckStatus]:
    tests = spec.smoke_tests
    checks = [CheckStatus(name=READY_CHECK, type=CheckType.READY)]
    checks += [CheckStatus(name=c.name, type=CheckType.HTTP) for c in tests.http]
    checks += [CheckStatus(name=c.name, type=CheckType.JOB) for c in tests.jobs]
    checks += [CheckStatus(name=c.name, type=CheckType.METRIC) for c in tests.metrics]
    return checks


@dataclass(frozen=True)
class ReadyJudgement:
    passed: bool
    failed: bool
    message: str
    recheck_at: datetime | None = None


def judge_ready(
    shadow_objects: Mapping[ObjKey, Obj | None],
    pods: Sequence[Obj],
    *,
    ready_for: float,
    max_restarts: int,
    now: datetime,
) -> ReadyJudgement:
    latest: datetime | None = None
    for key, obj in sorted(shadow_objects.items()):
        if key.kind not in WORKLOAD_KINDS:
            continue
        selector = selector_labels(obj or {})
        mine = [p for p in pods if labels_match(selector, Meta.of(p).labels)]
        for pod in mine:
            if not is_live(pod):
                continue
            name = Meta.of(pod).name
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                # As in the bake: a kubelet that has not yet seen the shadow's own
                # ConfigMap or Secret (copied a moment before) retries by itself.
                if fatal_waiting(waiting):
                    reason, message = waiting.get("reason"), waiting.get("message", "")
                    return ReadyJudgement(
                        False, True, f"shadow pod {name}: {reason} {message}".strip()
                    )
            if restarts(pod) > max_restarts:
                return ReadyJudgement(
                    False, True, f"shadow pod {name} restarted {restarts(pod)} times"
                )
        refused = replica_failure(obj)
        if refused is not None:
            return ReadyJudgement(False, True, f"{key}: {refused}")
        progress = rollout_progress(obj)
        if not progress.done:
            return ReadyJudgement(False, False, progress.message)
        expected = int((obj or {}).get("status", {}).get("replicas", 0) or 0)
        if key.kind == "DaemonSet":
            expected = int((obj or {}).get("status", {}).get("desiredNumberScheduled", 0) or 0)
        since = ready_since([p for p in mine if is_live(p)], expected=expected)
        if since is None:
            return ReadyJudgement(False, False, f"{key}: pods not all Ready")
        latest = since if latest is None else max(latest, since)
    if latest is None:
        return ReadyJudgement(False, False, "no shadow workloads yet")
    until = latest + timedelta(seconds=ready_for)
    if now >= until:
        return ReadyJudgement(True, False, f"Ready for {ready_for:.0f}s")
    return ReadyJudgement(
        False, False, f"Ready since {latest:%H:%M:%S}, need {ready_for:.0f}s", until
    )


def candidate_image(
    change: ResolvedChange, container: str | None, shadow_objects: Mapping[ObjKey, Obj | None]
) -> str | None:
    """The image a Job check runs by default: the changed image of ``container``."""
    if container is not None:
        image = change.image_for(container)
        if image:
            return image
    elif change.images:
        return change.images[0][1]
    for key, obj in sorted(shadow_objects.items()):
        if obj is None or key.kind not in WORKLOAD_KINDS:
            continue
        for c in pod_spec(obj).get("containers") or []:
            if container is None or c.get("name") == container:
                return str(c.get("image"))
    return None


def check_requests(
    spec: InfraRolloutSpec,
    checks: Sequence[CheckStatus],
    *,
    namespace: str,
    revision: int,
) -> list[RunCheck]:
    """RunCheck for every non-readiness check not yet finished (running ones are re-requested)."""
    specs: dict[str, tuple[CheckType, Obj, str]] = {}
    tests = "spec.smokeTests"
    for i, http in enumerate(spec.smoke_tests.http):
        specs[http.name] = (CheckType.HTTP, http.to_api(), f"{tests}.http[{i}]")
    for i, job in enumerate(spec.smoke_tests.jobs):
        specs[job.name] = (CheckType.JOB, job.to_api(), f"{tests}.jobs[{i}]")
    for i, metric in enumerate(spec.smoke_tests.metrics):
        specs[metric.name] = (CheckType.METRIC, metric.to_api(), f"{tests}.metrics[{i}]")
    out = []
    for check in checks:
        if check.type is CheckType.READY or check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        if check.name not in specs:
            continue
        kind, body, path = specs[check.name]
        out.append(RunCheck(check.name, kind, namespace, revision, body, field=path))
    return out


def ready_for_seconds(spec: InfraRolloutSpec) -> float:
    return float(parse_duration(spec.smoke_tests.ready_for))


def running_check(checks: Sequence[CheckStatus]) -> str:
    """The check a shadow failure is charged to once readiness passed."""
    running = [c.name for c in checks if c.phase is CheckPhase.RUNNING]
    return running[0] if running else READY_CHECK


def set_check(
    checks: Sequence[CheckStatus],
    name: str,
    phase: CheckPhase,
    message: str,
    now: datetime,
    *,
    successes: int | None = None,
    failures: int | None = None,
    job: str | None = None,
) -> list[CheckStatus]:
    """``checks`` with check ``name`` in ``phase`` (counts and Job kept unless given)."""
    out = []
    for check in checks:
        if check.name == name:
            finished = phase in (CheckPhase.PASSED, CheckPhase.FAILED)
            check = check.evolve(
                phase=phase,
                message=message[:1000],
                started_at=check.started_at or now,
                finished_at=now if finished else check.finished_at,
                successes=check.successes if successes is None else successes,
                failures=check.failures if failures is None else failures,
                job=check.job if job is None else job,
            )
        out.append(check)
    return out


def record_outcome(
    checks: Sequence[CheckStatus], name: str, outcome: CheckOutcome, now: datetime
) -> list[CheckStatus]:
    """``checks`` with check ``name`` finished as ``outcome`` reports (smoke or production)."""
    return set_check(
        checks,
        name,
        CheckPhase.PASSED if outcome.passed else CheckPhase.FAILED,
        outcome.message,
        now,
        successes=outcome.successes,
        failures=outcome.failures,
        job=outcome.job,
    )
