"""A shadow that is evidently broken fails the smoke stage at once, naming pod and evidence.

Given the e2e module's busybox httpd workload in production and a rollout
whose ``spec.timeout`` is 10 minutes, when the change breaks the shadow copy in
one of the ways below, then the rollout ends Failed (production untouched)
long before that timeout, with the failure reason in its Stalled condition and
the evidence in its message. ``bench/failfast_bench.py`` measures how soon.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.infrarollout import FINAL, Operator, create_rollout, wait_phase, workload

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]


def container_patch(**fields: Any) -> dict[str, Any]:
    """A strategic merge patch of the web container (and, with pod=..., the pod spec)."""
    pod = fields.pop("pod", {})
    return {
        "target": {"kind": "Deployment", "name": "web"},
        "type": "strategic",
        "patch": {
            "spec": {"template": {"spec": {**pod, "containers": [{"name": "web", **fields}]}}}
        },
    }


def config_patch(data: dict[str, str]) -> dict[str, Any]:
    return {"target": {"kind": "ConfigMap", "name": "web-config"}, "patch": {"data": data}}


def crash_loop(_registry: str) -> dict[str, Any]:
    return {"patches": [container_patch(command=["sh", "-c", "echo boom >&2; exit 3"])]}


def bad_image(registry: str) -> dict[str, Any]:
    image = f"{registry}/shakedown/missing-{secrets.token_hex(3)}:1"
    return {"images": [{"container": "web", "image": image}]}


def unschedulable(_registry: str) -> dict[str, Any]:
    return {"patches": [container_patch(pod={"nodeSelector": {"shakedown.dev/no-such": "node"}})]}


def ready_then_notready(_registry: str) -> dict[str, Any]:
    # The workload removes /healthz (its readiness probe) FAIL_AFTER seconds after start.
    return {"patches": [config_patch({"MESSAGE": "v2", "FAIL_AFTER": "4"})]}


def never_ready(_registry: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/never-there", "port": 8080}, "periodSeconds": 1}
    return {"patches": [container_patch(readinessProbe=probe)]}


#: case -> (change, smokeTests, failure reason, words the message must contain)
CASES: dict[str, tuple[Callable[[str], dict[str, Any]], dict[str, Any], str, list[str]]] = {
    "crash-loop": (crash_loop, {}, "CrashLoop", ["container web", "exit code 3"]),
    "bad-image": (bad_image, {}, "ImagePull", ["container web", "missing-"]),
    "unschedulable": (unschedulable, {}, "Unschedulable", ["cannot be scheduled", "node"]),
    "ready-then-notready": (
        ready_then_notready,
        {"readyFor": "60s"},
        "NotReady",
        ["was Ready and turned NotReady", "Readiness probe failed", "404"],
    ),
    "ready-timeout": (
        never_ready,
        {"readyTimeout": "8s"},
        "ReadyTimeout",
        ["not Ready within smokeTests.readyTimeout 8s", "Readiness probe failed", "404"],
    ),
}


def failfast_spec(change: dict[str, Any], smoke: dict[str, Any]) -> dict[str, Any]:
    return {
        "targets": [
            {"kind": "Deployment", "name": "web"},
            {"kind": "ConfigMap", "name": "web-config"},
        ],
        "change": change,
        "shadow": {"ttl": "15m", "replicas": 1},
        "smokeTests": {"readyFor": "30s", **smoke},
        "timeout": "10m",
    }


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_shadow_fails_fast_with_its_evidence(
    case: str,
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    registry: str,
) -> None:
    make_change, smoke, reason, words = CASES[case]
    workload(kube, ns, busybox_image, replicas=1)
    before = {
        kind: (kube.get(kind, ns, name) or {})["metadata"]["resourceVersion"]
        for kind, name in (("Deployment", "web"), ("ConfigMap", "web-config"))
    }
    create_rollout(kube, ns, failfast_spec(make_change(registry), smoke))
    # Far below spec.timeout (10m): only fail-fast can end it within this wait.
    final = wait_phase(kube, ns, FINAL, timeout=150)
    assert final["phase"] == "Failed", final
    # The reason is read from the Stalled condition (what kstatus tools read), as
    # status.failureReason would be pruned if another session re-installed older CRDs.
    assert final["message"].startswith(f"{reason}: shadow broken: "), final["message"]
    message = final["message"]
    assert "pod web-" in message, message
    for word in words:
        assert word in message, message
    stalled = next(c for c in final["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", reason)
    ready = next(c for c in final["checks"] if c["name"] == "ready")
    assert ready["phase"] == "Failed"
    after = {
        kind: (kube.get(kind, ns, name) or {})["metadata"]["resourceVersion"]
        for kind, name in (("Deployment", "web"), ("ConfigMap", "web-config"))
    }
    assert after == before, "production written"
