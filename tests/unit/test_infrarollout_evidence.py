"""judge_shadow: observed shadow pods (and their Events) in, verdict out, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shakedown.planning.infrarollout.evidence import PROBE_EVENT_GRACE, judge_shadow
from shakedown.planning.infrarollout.objects import format_time

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pod(
    name: str = "web-0",
    *,
    ready: bool | None = None,
    ready_at: float = 0,
    started_at: float | None = 1,
    restarts: int = 0,
    waiting: tuple[str, str] | None = None,
    terminated: dict[str, Any] | None = None,
    last_terminated: dict[str, Any] | None = None,
    unschedulable: str | None = None,
    init: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting[0], "message": waiting[1]}
    elif terminated is not None:
        state["terminated"] = terminated
    elif started_at is not None:
        state["running"] = {"startedAt": format_time(at(started_at))}
    container: dict[str, Any] = {"name": "web", "restartCount": restarts, "state": state}
    if last_terminated is not None:
        container["lastState"] = {"terminated": last_terminated}
    conditions: list[dict[str, Any]] = []
    if unschedulable is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
                "lastTransitionTime": format_time(at(0)),
            }
        )
    if ready is not None:
        conditions.append(
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "" if ready else "ContainersNotReady",
                "message": "" if ready else "containers with unready status: [web]",
                "lastTransitionTime": format_time(at(ready_at)),
            }
        )
    status: dict[str, Any] = {"phase": "Pending" if unschedulable else "Running"}
    status["conditions"] = conditions
    status["initContainerStatuses" if init else "containerStatuses"] = [container]
    meta: dict[str, Any] = {"name": name, "creationTimestamp": format_time(at(0))}
    if deleting:
        meta["deletionTimestamp"] = format_time(at(5))
    return {"kind": "Pod", "metadata": meta, "status": status}


def event(pod_name: str, reason: str, message: str, when: float) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name},
        "reason": reason,
        "message": message,
        "firstTimestamp": format_time(at(when)),
        "lastTimestamp": format_time(at(when)),
    }


PROBE = event(
    "web-0", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404", 9
)
PULL = event("web-0", "Failed", 'Failed to pull image "nope:1": not found', 3)
CRASH = {"exitCode": 3, "reason": "Error", "finishedAt": format_time(at(4))}

CASES = [
    # id, pods, events, now, readiness, deadline, reason, message parts, evidence time
    ("healthy", [pod(ready=True, ready_at=2)], [], 10, True, 120, None, [], None),
    (
        "restarted",
        [pod(ready=False, restarts=1, last_terminated=CRASH)],
        [],
        10,
        True,
        120,
        "CrashLoop",
        ["web-0", "restarted 1 time;", "exit code 3", "Error"],
        4,
    ),
    (
        "crash loop back-off",
        [
            pod(
                ready=False,
                restarts=3,
                waiting=("CrashLoopBackOff", "back-off 40s"),
                last_terminated=CRASH,
            )
        ],
        [],
        10,
        True,
        120,
        "CrashLoop",
        ["restarted 3 times (CrashLoopBackOff)", "exit code 3"],
        4,
    ),
    (
        "terminated non-zero before a restart",
        [pod(ready=False, terminated=CRASH)],
        [],
        10,
        True,
        120,
        "CrashLoop",
        ["terminated with exit code 3", "Error"],
        4,
    ),
    (
        "an init container that restarted",
        [pod(ready=False, restarts=1, last_terminated=CRASH, init=True)],
        [],
        10,
        True,
        120,
        "CrashLoop",
        ["restarted 1 time"],
        4,
    ),
    (
        "a completed init container is fine",
        [pod(ready=True, init=True, terminated={"exitCode": 0, "reason": "Completed"})],
        [],
        10,
        True,
        120,
        None,
        [],
        None,
    ),
    (
        "image cannot be pulled",
        [pod(ready=False, waiting=("ErrImagePull", "rpc error: not found"))],
        [PULL],
        10,
        True,
        120,
        "ImagePull",
        ["web-0", "ErrImagePull", "rpc error: not found"],
        3,
    ),
    (
        "image back-off, message from the Event",
        [pod(ready=False, waiting=("ImagePullBackOff", ""))],
        [PULL],
        10,
        True,
        120,
        "ImagePull",
        ["ImagePullBackOff", "Failed to pull image"],
        3,
    ),
    (
        "invalid image name",
        [pod(ready=False, waiting=("InvalidImageName", "couldn't parse image name"))],
        [],
        10,
        True,
        120,
        "ImagePull",
        ["InvalidImageName"],
        None,
    ),
    (
        "missing Secret key",
        [pod(ready=False, waiting=("CreateContainerConfigError", 'secret "db" not found'))],
        [],
        10,
        True,
        120,
        "ContainerStart",
        ['secret "db" not found'],
        None,
    ),
    (
        "unschedulable",
        [pod(unschedulable="0/1 nodes are available: 1 node(s) didn't match selector")],
        [],
        10,
        True,
        120,
        "Unschedulable",
        ["web-0 cannot be scheduled", "didn't match selector"],
        0,
    ),
    (
        "waiting for a volume is not evidence",
        [pod(unschedulable="pod has unbound immediate PersistentVolumeClaims")],
        [],
        10,
        True,
        120,
        None,
        [],
        None,
    ),
    (
        "was Ready, turned NotReady",
        [pod(ready=False, ready_at=9, started_at=1)],
        [PROBE],
        10,
        True,
        120,
        "NotReady",
        ["web-0 was Ready and turned NotReady at 12:00:09", "statuscode: 404"],
        9,
    ),
    (
        "NotReady is not judged once readiness passed",
        [pod(ready=False, ready_at=9, started_at=1)],
        [PROBE],
        10,
        False,
        120,
        None,
        [],
        None,
    ),
    (
        "crashes are judged after readiness passed too",
        [pod(ready=False, restarts=1, last_terminated=CRASH)],
        [],
        10,
        False,
        None,
        "CrashLoop",
        ["restarted"],
        4,
    ),
    (
        "never Ready yet, before the deadline",
        [pod(ready=False, ready_at=0, started_at=1)],
        [],
        10,
        True,
        120,
        None,
        [],
        None,
    ),
    (
        "never Ready by the deadline names the probe failure",
        [pod(ready=False, ready_at=0, started_at=1)],
        [PROBE],
        121,
        True,
        120,
        "ReadyTimeout",
        ["web-0 not Ready within smokeTests.readyTimeout 2m", "Readiness probe failed"],
        120,
    ),
    (
        "still pulling at the deadline says so",
        [pod(ready=False, ready_at=0, waiting=("ContainerCreating", ""))],
        [],
        121,
        True,
        120,
        "ReadyTimeout",
        ["container web ContainerCreating"],
        120,
    ),
    (
        "a terminating pod is not judged",
        [pod(ready=False, restarts=4, last_terminated=CRASH, deleting=True)],
        [],
        10,
        True,
        120,
        None,
        [],
        None,
    ),
]


@pytest.mark.parametrize(
    ("pods", "events", "now", "readiness", "deadline", "reason", "parts", "evidence_at"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_judge_shadow(
    pods: list[dict[str, Any]],
    events: list[dict[str, Any]],
    now: float,
    readiness: bool,
    deadline: float | None,
    reason: str | None,
    parts: list[str],
    evidence_at: float | None,
) -> None:
    verdict = judge_shadow(
        pods,
        events,
        now=at(now),
        readiness=readiness,
        ready_deadline=None if deadline is None else at(deadline),
        ready_timeout="2m",
    )
    if reason is None:
        assert verdict.broken is None, verdict
        return
    assert verdict.broken is not None
    assert verdict.broken.reason == reason
    for part in parts:
        assert part in verdict.broken.message, verdict.broken.message
    assert verdict.broken.at == (None if evidence_at is None else at(evidence_at))


def test_a_healthy_shadow_is_rechecked_at_the_ready_deadline() -> None:
    verdict = judge_shadow([pod(ready=False)], now=at(10), ready_deadline=at(120))
    assert verdict.broken is None
    assert verdict.recheck_at == at(120)


def test_notready_waits_briefly_for_the_probe_event_then_fails_without_it() -> None:
    broken = [pod(ready=False, ready_at=9, started_at=1)]
    early = judge_shadow(broken, [], now=at(9.5), ready_deadline=at(120))
    assert early.broken is None
    assert early.recheck_at == at(9 + PROBE_EVENT_GRACE)
    late = judge_shadow(broken, [], now=at(9 + PROBE_EVENT_GRACE), ready_deadline=at(120))
    assert late.broken is not None
    assert late.broken.reason == "NotReady"
    assert "containers with unready status" in late.broken.message


def test_the_latest_probe_failure_is_named() -> None:
    old = event("web-0", "Unhealthy", "Readiness probe failed: connection refused", 2)
    verdict = judge_shadow(
        [pod(ready=False, ready_at=9, started_at=1)], [old, PROBE], now=at(10), ready_deadline=None
    )
    assert verdict.broken is not None
    assert "statuscode: 404" in verdict.broken.message
    assert "connection refused" not in verdict.broken.message


def test_the_pods_of_checks_are_judged_by_their_checks_not_as_a_broken_shadow() -> None:
    failed = {"exitCode": 1, "reason": "Error", "finishedAt": format_time(at(5))}
    test_pod = pod("smoke-tests-abc", terminated=failed)
    test_pod["metadata"]["labels"] = {"shakedown.dev/check": "tests", "job-name": "smoke-tests"}
    assert judge_shadow([test_pod], now=at(10)).broken is None
    workload_pod = pod("web-0", terminated=failed)
    found = judge_shadow([workload_pod], now=at(10)).broken
    assert found is not None and found.pod == "web-0"


def test_a_configmap_cache_not_synced_yet_is_not_evidence_a_missing_key_is() -> None:
    waiting = ("CreateContainerConfigError", "failed to sync configmap cache: timed out")
    assert judge_shadow([pod(waiting=waiting, started_at=None)], now=at(10)).broken is None
    missing = ("CreateContainerConfigError", "couldn't find key MESSAGE in ConfigMap ns/web")
    found = judge_shadow([pod(waiting=missing, started_at=None)], now=at(10)).broken
    assert found is not None and "couldn't find key" in found.message


def test_the_bake_judges_waiting_states_by_the_same_rule() -> None:
    from shakedown.planning.infrarollout.bake import fatal_waiting

    assert not fatal_waiting(
        {"reason": "CreateContainerConfigError", "message": "failed to sync configmap cache"}
    )
    assert fatal_waiting({"reason": "CreateContainerConfigError", "message": "secret x not found"})
    assert fatal_waiting({"reason": "CrashLoopBackOff"})
    assert not fatal_waiting({"reason": "ContainerCreating"})
