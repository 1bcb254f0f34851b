"""Patches by their specifications, against the real API server.

A strategic patch is computed by the API server (a dry run while the snapshot
is taken), so list merge keys are the server's: ``volumeMounts`` merge by
``mountPath``. A patch the server refuses, and a snapshot larger than one
Secret may hold, end the rollout with a message naming the cause.
"""

from __future__ import annotations

import base64
import copy
import random
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from shakedown.demo.infrarollout import sample_workload
from tests.fixtures.infrarollout import (
    FINAL,
    Operator,
    create_rollout,
    deployment_ready,
    events,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]

MOUNTS = [
    {"name": "conf", "mountPath": "/etc/a", "readOnly": True},
    {"name": "conf", "mountPath": "/etc/b", "readOnly": True},
]


def mounted_workload(kube: Kube, ns: str, image: str) -> None:
    """The sample web service with one ConfigMap volume mounted at two paths."""
    for obj in sample_workload("web", image, replicas=1):
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod["volumes"] = [{"name": "conf", "configMap": {"name": "web-config"}}]
            pod["containers"][0]["volumeMounts"] = copy.deepcopy(MOUNTS)
        kube.create(obj["kind"], ns, obj)
    wait_for(lambda: deployment_ready(kube, ns, "web"), 90, "Deployment web ready")


def strategic(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "target": {"kind": "Deployment", "name": "web"},
        "type": "strategic",
        "patch": {"spec": {"template": {"spec": {"containers": containers}}}},
    }


def spec(patches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "targets": [
            {"kind": "Deployment", "name": "web"},
            {"kind": "ConfigMap", "name": "web-config"},
        ],
        "change": {"patches": patches},
        "shadow": {"ttl": "10m", "replicas": 1},
        "smokeTests": {"readyFor": "3s"},
        "bake": "2s",
        "timeout": "5m",
    }


def mounts(kube: Kube, ns: str) -> list[dict[str, Any]]:
    obj = kube.get("Deployment", ns, "web") or {}
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    return result


def test_a_strategic_patch_merges_volume_mounts_by_mount_path(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    mounted_workload(kube, ns, busybox_image)
    new = {"name": "conf", "mountPath": "/etc/c", "readOnly": True}
    create_rollout(kube, ns, spec([strategic([{"name": "web", "volumeMounts": [new]}])]))
    final = wait_phase(kube, ns, FINAL, timeout=240)
    assert final["phase"] == "Succeeded", final
    # Merged by name (the old heuristics), the mount at /etc/a became /etc/c. (The
    # server puts the patch's new item first; the order is the server's, not ours.)
    paths = [m["mountPath"] for m in mounts(kube, ns)]
    assert sorted(paths) == ["/etc/a", "/etc/b", "/etc/c"], paths
    wait_for(lambda: deployment_ready(kube, ns, "web"), 90, "Deployment web ready")


def test_a_strategic_patch_the_server_refuses_fails_naming_the_field(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    mounted_workload(kube, ns, busybox_image)
    before = mounts(kube, ns)
    # A mount of a volume the pod does not have: the server's validation refuses it.
    bad = {"name": "nope", "mountPath": "/etc/c"}
    create_rollout(kube, ns, spec([strategic([{"name": "web", "volumeMounts": [bad]}])]))
    final = wait_phase(kube, ns, FINAL, timeout=120)
    assert final["phase"] == "Failed", final
    message = final["message"]
    assert "spec.change.patches[0].patch: the API server refused" in message, message
    assert "nope" in message, message
    stalled = next(c for c in final["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidChange")
    assert mounts(kube, ns) == before, "the dry run changed production"


def noise(size: int, seed: int) -> str:
    """Text gzip cannot shrink below ~3/4 (base64 of random bytes)."""
    return base64.b64encode(random.Random(seed).randbytes(size * 3 // 4)).decode()


def test_a_snapshot_too_large_for_a_secret_fails_once_naming_the_sizes(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    for obj in sample_workload("web", busybox_image, replicas=1):
        kube.create(obj["kind"], ns, obj)  # snapshotted, never changed: Ready is not needed
    targets = [{"kind": "Deployment", "name": "web"}]
    for index in range(2):
        name = f"big-{index}"
        kube.create(
            "ConfigMap",
            ns,
            {"metadata": {"name": name}, "data": {"BLOB": noise(900 * 1024, index)}},
        )
        targets.append({"kind": "ConfigMap", "name": name})
    patch = {"target": targets[1], "type": "merge", "patch": {"data": {"MORE": "x"}}}
    create_rollout(kube, ns, {"targets": targets, "change": {"patches": [patch]}, "timeout": "5m"})
    final = wait_phase(kube, ns, FINAL, timeout=120)
    assert final["phase"] == "Failed", final
    message = final["message"]
    assert "snapshot change-snapshot-1 is " in message, message
    assert "over the 1048576 bytes (1 MiB) one Secret may hold" in message, message
    stalled = next(c for c in final["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "SnapshotTooLarge")
    assert kube.get("Secret", ns, "change-snapshot-1") is None
    warnings = wait_for(
        lambda: [e for e in events(kube, ns) if "1048576 bytes" in e], 30, "the warning event"
    )
    assert len(warnings) == 1, warnings


def test_a_json_patch_adding_past_the_end_of_a_list_fails_naming_the_field(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    for obj in sample_workload("web", busybox_image, replicas=1):
        kube.create(obj["kind"], ns, obj)  # snapshotted, never changed: Ready is not needed
    before = (kube.get("Deployment", ns, "web") or {})["spec"]
    # RFC 6902 4.1: index 9 of a one-element list is an error, not an append.
    op = {"op": "add", "path": "/spec/template/spec/containers/9", "value": {"name": "x"}}
    patch = {"target": {"kind": "Deployment", "name": "web"}, "type": "json", "patch": [op]}
    create_rollout(kube, ns, spec([patch]))
    final = wait_phase(kube, ns, FINAL, timeout=120)
    assert final["phase"] == "Failed", final
    message = final["message"]
    assert "spec.change.patches[0].patch (json patch of Deployment/web): " in message, message
    assert "can't insert outside of list" in message, message
    stalled = next(c for c in final["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidChange")
    assert (kube.get("Deployment", ns, "web") or {})["spec"] == before, "production written"


def test_strategic_patches_of_a_statefulset_and_a_daemonset_are_the_servers(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    kube.create("ConfigMap", ns, {"metadata": {"name": "conf"}, "data": {"A": "1"}})
    container = {
        "name": "main",
        "image": busybox_image,
        "command": ["sh", "-c", "sleep 3600"],
        "volumeMounts": copy.deepcopy(MOUNTS),
    }
    kinds = (("StatefulSet", "db"), ("DaemonSet", "agent"))
    for kind, name in kinds:
        body: dict[str, Any] = {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [container],
                    "volumes": [{"name": "conf", "configMap": {"name": "conf"}}],
                },
            },
        }
        if kind == "StatefulSet":
            body.update(replicas=1, serviceName=name)
        kube.create(kind, ns, {"metadata": {"name": name}, "spec": body})
    new = {"name": "conf", "mountPath": "/etc/c", "readOnly": True}
    patches = [
        {
            "target": {"kind": kind, "name": name},
            "type": "strategic",
            "patch": {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "main", "volumeMounts": [new]}]}}
                }
            },
        }
        for kind, name in kinds
    ]
    targets = [{"kind": kind, "name": name} for kind, name in kinds]
    create_rollout(
        kube, ns, {**spec(patches), "targets": targets, "rollback": {"notReadyFor": "5s"}}
    )
    final = wait_phase(kube, ns, FINAL, timeout=240)
    assert final["phase"] == "Succeeded", final
    for kind, name in kinds:
        obj = kube.get(kind, ns, name) or {}
        paths = [
            m["mountPath"] for m in obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        ]
        assert sorted(paths) == ["/etc/a", "/etc/b", "/etc/c"], (kind, paths)
