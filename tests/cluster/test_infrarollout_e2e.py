"""InfraRollout end to end on the real cluster: busybox httpd workloads, real probes.

The workload serves ``/healthz`` (what its readiness probe checks) and an
index page with the ``MESSAGE`` from its ConfigMap. A "bad" change sets
``FAIL_AFTER`` in that ConfigMap: pods start Ready (and pass the shadow) and
remove ``/healthz`` after that many seconds, so production fails during the
bake. The operator (``iro_operator``) watches only these tests' namespaces, so
a test can kill and restart it; it, the workload and the rollout helpers are in
tests/fixtures/infrarollout.py, shared with the modules beside this one.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from shakedown.demo.infrarollout import SCRIPT
from tests.fixtures.infrarollout import (
    Operator,
    comparable,
    config_data,
    create_rollout,
    deployment_ready,
    events,
    holds,
    rollout,
    status,
    template_of,
    wait_for,
    wait_phase,
    workload,
)
from tests.fixtures.operator import SHAKEDOWN

pytestmark = pytest.mark.cluster


# --------------------------------------------------------------------------- tests
def test_replace_succeeds(iro_operator: Operator, kube: Kube, ns: str, busybox_image: str) -> None:
    workload(kube, ns, busybox_image)
    before = template_of(kube, ns)
    rollout(kube, ns, message="v2")
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Succeeded", final
    assert config_data(kube, ns)["MESSAGE"] == "v2"
    after = template_of(kube, ns)
    # The ConfigMap-only change rolled the pods: a configuration hash in the template.
    assert "shakedown.dev/config-hash" in after["metadata"].get("annotations", {})
    assert after["spec"] == before["spec"]
    assert deployment_ready(kube, ns, "web")
    checks = {c["name"]: c["phase"] for c in final["checks"]}
    assert checks == {"ready": "Passed", "index": "Passed"}
    # The shadow namespace is removed when the revision ends.
    shadow = final["shadowNamespace"]
    wait_for(
        lambda: (kube.get("Namespace", None, shadow) or {"metadata": {"deletionTimestamp": 1}})[
            "metadata"
        ].get("deletionTimestamp"),
        30,
        "shadow namespace deleted",
    )
    reasons = [e.split(":")[0] for e in events(kube, ns)]
    for reason in (
        "RevisionStarted",
        "Snapshotting",
        "Shadowing",
        "SmokeTesting",
        "Shifting",
        "Baking",
        "Succeeded",
    ):
        assert reason in reasons, reasons


def test_smoke_failure_leaves_production_untouched(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    before: dict[str, dict[str, Any]] = {}
    for kind_name in ("Deployment/web", "ConfigMap/web-config", "Service/web"):
        kind, name = kind_name.split("/")
        found = kube.get(kind, ns, name)
        assert found is not None, kind_name
        before[kind_name] = found
    # The shadow serves "v2", but the HTTP smoke test expects text it will not find.
    rollout(kube, ns, message="v2", extra={})
    iro = kube.get("InfraRollout", ns, "change")
    assert iro is not None
    http = iro["spec"]["smokeTests"]["http"]
    http[0]["expectBody"] = "never-served"
    # A merge patch, as kubectl edit sends: the operator may have written the
    # object (its finalizer) since the read, which a PUT would conflict with.
    kube.merge_patch("InfraRollout", ns, "change", {"spec": {"smokeTests": {"http": http}}})
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Failed", final
    assert "index" in final["message"], final["message"]
    for key, old in before.items():
        kind, name = key.split("/")
        now = kube.get(kind, ns, name)
        assert now is not None
        assert now["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"], key
        assert comparable(now) == comparable(old), key


def test_bake_failure_restores_deployment_and_configmap(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    template_before = template_of(kube, ns)
    rollout(kube, ns, message="v2", fail_after=12, bake="40s", http=False)
    wait_phase(kube, ns, {"Baking", "RollingBack", "RolledBack", "Failed"}, timeout=120)
    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=120)
    assert final["phase"] == "RolledBack", final
    assert final["rollbackReason"].startswith("NotReady"), final["rollbackReason"]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert template_of(kube, ns) == template_before
    assert deployment_ready(kube, ns, "web")
    pods = [
        p
        for p in kube.list("Pod", ns, labels="app=web")
        if not p["metadata"].get("deletionTimestamp")
    ]
    for pod in pods:
        env = pod["spec"]["containers"][0].get("envFrom")
        assert env == [{"configMapRef": {"name": "web-config"}}]
    assert final["history"][0]["result"] == "RolledBack"


def shakedown(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [str(SHAKEDOWN), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def live_pods(kube: Kube, ns: str, labels: str) -> list[dict[str, Any]]:
    return [
        p
        for p in kube.list("Pod", ns, labels=labels)
        if not p["metadata"].get("deletionTimestamp")
        and p.get("status", {}).get("phase") in ("Pending", "Running")
    ]


def test_canary_pauses_until_promoted(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str, kubeconfig: Path
) -> None:
    workload(kube, ns, busybox_image)
    canary = {
        "type": "Canary",
        "canary": {"steps": [{"weight": 50}, {"pause": "10m"}, {"weight": 100}]},
    }
    rollout(kube, ns, message="v2", strategy=canary, bake="3s", http=False)
    paused = wait_for(
        lambda: (
            (s := status(kube, ns)).get("currentStep") == 1
            and "paused" in (s.get("waitingFor") or "")
            and s
        ),
        120,
        "the canary pause",
        lambda: status(kube, ns),
    )
    assert paused["phase"] == "Shifting"
    # kstatus: waiting for a person, not working; the message says what resumes it.
    conditions = {c["type"]: c for c in paused["conditions"]}
    assert conditions["Reconciling"]["status"] == "True"
    assert conditions["Reconciling"]["reason"] == conditions["Ready"]["reason"] == "Paused"
    assert "shakedown promote iro change" in conditions["Reconciling"]["message"]
    # Half the replicas carry the change, reading their own copy of the ConfigMap.
    copy = kube.get("Deployment", ns, "web-canary")
    assert copy is not None and copy["spec"]["replicas"] == 1
    assert (kube.get("Deployment", ns, "web") or {})["spec"]["replicas"] == 1
    assert config_data(kube, ns, "web-config-canary")["MESSAGE"] == "v2"
    assert config_data(kube, ns) == {"MESSAGE": "v1"}, "stable keeps the old configuration"
    env = copy["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env == [{"configMapRef": {"name": "web-config-canary"}}]
    holds(lambda: status(kube, ns)["currentStep"] == 1, 5, "the pause holds without a promote")
    result = shakedown("promote", "iro", "change", "-n", ns, kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=120)
    assert final["phase"] == "Succeeded", final
    assert config_data(kube, ns)["MESSAGE"] == "v2"
    assert (kube.get("Deployment", ns, "web") or {})["spec"]["replicas"] == 2
    assert kube.get("Deployment", ns, "web-canary") is None
    assert kube.get("ConfigMap", ns, "web-config-canary") is None
    assert any(e.startswith("Promoted") for e in events(kube, ns)), events(kube, ns)
    # The INFO log says what was decided for this rollout, not that wake-ups ran
    # (the operator runs with --verbose, where they are DEBUG lines).
    log = iro_operator.log()
    assert re.search(rf"\[INFO\s*\] {ns}/change: Promoted: ", log), log[-3000:]
    assert re.search(r"\[DEBUG\s*\] Handler 'wake-infrarollouts-\w+' succeeded", log)
    assert not re.search(r"\[INFO\s*\] Handler 'wake-", log), "routine wake-ups at INFO"


def test_blue_green_switch_and_rollback(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    service_before = kube.get("Service", ns, "web")
    assert service_before is not None
    rollout(
        kube,
        ns,
        message="v2",
        fail_after=15,
        bake="60s",
        http=False,
        strategy={"type": "BlueGreen", "blueGreen": {"service": "web"}},
    )
    baking = wait_phase(kube, ns, {"Baking", "RolledBack", "Failed"}, timeout=120)
    assert baking["phase"] == "Baking", baking
    switched = kube.get("Service", ns, "web")
    assert switched is not None
    assert switched["spec"]["selector"] == {"app": "web", "shakedown.dev/role": "green"}
    assert len(live_pods(kube, ns, "app=web,shakedown.dev/role=green")) == 2
    blue = kube.get("Deployment", ns, "web") or {}
    assert blue["spec"]["replicas"] == 2 and blue["status"].get("readyReplicas") == 2, "blue kept"
    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=120)
    assert final["phase"] == "RolledBack", final
    restored = kube.get("Service", ns, "web")
    assert restored is not None
    assert restored["spec"]["selector"] == {"app": "web"}
    assert kube.get("Deployment", ns, "web-green") is None
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert (
        blue["metadata"]["generation"]
        == (kube.get("Deployment", ns, "web") or {})["metadata"]["generation"]
    )


def test_abort_during_bake_rolls_back(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str, kubeconfig: Path
) -> None:
    workload(kube, ns, busybox_image)
    template_before = template_of(kube, ns)
    rollout(kube, ns, message="v2", bake="5m", http=False)
    wait_phase(kube, ns, {"Baking"}, timeout=120)
    assert config_data(kube, ns)["MESSAGE"] == "v2"
    result = shakedown("abort", "iro", "change", "-n", ns, kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed", "Aborted"}, timeout=120)
    assert final["phase"] == "RolledBack", final
    assert "abort" in final["rollbackReason"].lower(), final["rollbackReason"]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert template_of(kube, ns) == template_before
    assert deployment_ready(kube, ns, "web")


def test_delete_midway_restores_production_and_removes_shadow(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    template_before = template_of(kube, ns)
    rollout(kube, ns, message="v2", bake="5m", http=False)
    baking = wait_phase(kube, ns, {"Baking"}, timeout=120)
    shadow = baking["shadowNamespace"]
    kube.delete("InfraRollout", ns, "change")
    wait_for(lambda: kube.get("InfraRollout", ns, "change") is None, 120, "the InfraRollout gone")
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert template_of(kube, ns) == template_before
    assert deployment_ready(kube, ns, "web")
    gone = kube.get("Namespace", None, shadow)
    assert gone is None or gone["metadata"].get("deletionTimestamp"), "shadow namespace removed"
    assert not kube.list("Lease", ns), "locks released"


def test_two_rollouts_on_one_deployment_never_interleave(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    rollout(kube, ns, name="first", message="v2", bake="15s", http=False)
    wait_phase(
        kube,
        ns,
        {"Snapshotting", "Shadowing", "SmokeTesting", "Shifting", "Baking"},
        name="first",
        timeout=60,
    )
    rollout(kube, ns, name="second", message="v3", bake="3s", http=False)
    waiting = wait_for(
        lambda: (
            "first" in (status(kube, ns, "second").get("waitingFor") or "")
            and status(kube, ns, "second")
        ),
        60,
        "second to wait for first",
    )
    reconciling = next(c for c in waiting["conditions"] if c["type"] == "Reconciling")
    assert reconciling["reason"] == "WaitingForLock" and "first" in reconciling["message"]
    first = wait_phase(kube, ns, {"Succeeded", "RolledBack", "Failed"}, name="first", timeout=180)
    assert first["phase"] == "Succeeded", first
    second = wait_phase(kube, ns, {"Succeeded", "RolledBack", "Failed"}, name="second", timeout=180)
    assert second["phase"] == "Succeeded", second
    started = datetime.fromisoformat(second["startedAt"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(first["history"][0]["finishedAt"].replace("Z", "+00:00"))
    assert started >= finished, (first, second)
    assert config_data(kube, ns)["MESSAGE"] == "v3"


def test_operator_killed_in_every_phase_resumes_without_repeating(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    """SIGKILL right after each phase is recorded (before its actions), then restart."""
    workload(kube, ns, busybox_image)
    generation_before = (kube.get("Deployment", ns, "web") or {})["metadata"]["generation"]
    # Widen the record-then-act window so every kill lands inside it.
    iro_operator.kill()
    iro_operator.extra_env = {"SHAKEDOWN_FAULT_PAUSE": "2"}
    iro_operator.start()
    try:
        rollout(kube, ns, message="v2", fail_after=20, bake="90s", http=True)
        killed_in: list[str] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            phase = status(kube, ns).get("phase")
            if phase in ("RolledBack", "Succeeded", "Failed"):
                break
            if phase and phase not in killed_in:
                iro_operator.kill()
                killed_in.append(phase)
                time.sleep(0.5)
                iro_operator.start()
            time.sleep(0.1)
        final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=120)
    finally:
        iro_operator.kill()
        iro_operator.extra_env = {}
        iro_operator.start()
    assert final["phase"] == "RolledBack", (final, killed_in)
    for phase in ("Snapshotting", "Shadowing", "SmokeTesting", "Shifting", "Baking", "RollingBack"):
        assert phase in killed_in, killed_in
    # One shift and one rollback: exactly two new Deployment generations, two ReplicaSets.
    deployment = kube.get("Deployment", ns, "web") or {}
    assert deployment["metadata"]["generation"] == generation_before + 2, killed_in
    replica_sets = kube.list("ReplicaSet", ns, labels="app=web")
    assert len(replica_sets) == 2, [r["metadata"]["name"] for r in replica_sets]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert deployment_ready(kube, ns, "web")
    # One snapshot, one shadow namespace for the revision, one HTTP probe pod.
    assert kube.get("Secret", ns, "change-snapshot-1") is not None
    assert final["history"][0]["result"] == "RolledBack"


def test_a_promotion_in_a_container_image_refresh_starts_a_revision(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str, registry: str
) -> None:
    from shakedown.localcluster import images

    workload(kube, ns, busybox_image)
    repository = busybox_image.rsplit(":", 1)[0]
    digest = images.registry_digest(registry, "shakedown/busybox", "latest")
    assert digest, "the busybox image is in the registry"
    kube.create(
        "ContainerImageRefresh",
        ns,
        {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "ContainerImageRefresh",
            "metadata": {"name": "web-image"},
            "spec": {
                "image": repository,
                "source": {"configMap": {"name": "web-image-context"}},
                "tests": [{"name": "smoke", "command": ["/bin/true"]}],
                "suspend": True,
                "insecureRegistry": True,
            },
        },
    )
    spec = {
        "targets": [{"kind": "Deployment", "name": "web"}, {"kind": "Service", "name": "web"}],
        "imageFrom": {"containerImageRefresh": "web-image", "container": "web"},
        "smokeTests": {
            "readyFor": "2s",
            # No image given: the Job runs the candidate (the promoted digest).
            "jobs": [{"name": "candidate", "command": ["sh", "-c", "test -x /bin/busybox"]}],
        },
        "bake": "3s",
        "rollback": {"notReadyFor": "2s"},
    }
    create_rollout(kube, ns, spec)
    waiting = wait_for(
        lambda: (
            "has not promoted" in (status(kube, ns).get("waitingFor") or "") and status(kube, ns)
        ),
        60,
        "the rollout to wait for a promotion",
    )
    assert waiting.get("revision", 0) == 0
    kube.merge_patch(
        "ContainerImageRefresh",
        ns,
        "web-image",
        {"status": {"promotedDigest": digest}},
        subresource="status",
    )
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Succeeded", final
    assert final["revision"] == 1
    assert final["resolvedImages"] == [{"container": "web", "image": f"{repository}@{digest}"}]
    image = template_of(kube, ns)["spec"]["containers"][0]["image"]
    assert image == f"{repository}@{digest}"
    job = next(c for c in final["checks"] if c["name"] == "candidate")
    assert job["phase"] == "Passed", job


def test_statefulset_and_daemonset_roll_with_their_configuration(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    kube.create("ConfigMap", ns, {"metadata": {"name": "web-config"}, "data": {"MESSAGE": "v1"}})
    container = {
        "name": "web",
        "image": busybox_image,
        "command": ["sh", "-c", SCRIPT],
        "envFrom": [{"configMapRef": {"name": "web-config"}}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    for kind, name in (("StatefulSet", "db"), ("DaemonSet", "agent")):
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        }
        if kind == "StatefulSet":
            spec.update(replicas=1, serviceName=name)
        kube.create(kind, ns, {"metadata": {"name": name}, "spec": spec})
    spec = {
        "targets": [
            {"kind": "StatefulSet", "name": "db"},
            {"kind": "DaemonSet", "name": "agent"},
            {"kind": "ConfigMap", "name": "web-config"},
        ],
        "change": {
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "web-config"},
                    "patch": {"data": {"MESSAGE": "v2"}},
                }
            ]
        },
        "smokeTests": {"readyFor": "2s"},
        "bake": "3s",
        "rollback": {"notReadyFor": "2s"},
    }
    create_rollout(kube, ns, spec)
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Succeeded", final
    for kind, name in (("StatefulSet", "db"), ("DaemonSet", "agent")):
        obj = kube.get(kind, ns, name) or {}
        annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
        assert "shakedown.dev/config-hash" in annotations, kind
    pods = live_pods(kube, ns, "app in (db,agent)")
    assert len(pods) == 2 and all(
        p["metadata"].get("annotations", {}).get("shakedown.dev/config-hash") for p in pods
    ), "the pods were rolled with the new configuration"


def test_the_shadow_is_removed_when_its_ttl_runs_out(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    slow_job = {
        "name": "slow",
        "image": busybox_image,
        "command": ["sleep", "600"],
        "timeout": "15m",
    }
    extra = {
        "shadow": {"ttl": "1m", "replicas": 1, "isolate": True},
        "smokeTests": {"readyFor": "2s", "jobs": [slow_job]},
        "timeout": "20m",
    }
    rollout(kube, ns, message="v2", http=False, extra=extra)
    smoke = wait_phase(kube, ns, {"SmokeTesting"}, timeout=60)
    shadow = smoke["shadowNamespace"]
    final = wait_phase(kube, ns, {"Failed", "Succeeded", "RolledBack"}, timeout=150)
    assert final["phase"] == "Failed", final
    assert "ShadowExpired" in final["message"], final["message"]
    gone = kube.get("Namespace", None, shadow)
    assert gone is None or gone["metadata"].get("deletionTimestamp"), "shadow removed"
    assert config_data(kube, ns) == {"MESSAGE": "v1"}, "production untouched"


def test_sweep_deletes_orphaned_and_expired_shadows_only(
    kube: Kube, ns: str, crds: list[str]
) -> None:
    from datetime import UTC, timedelta

    from shakedown.adapters.shadow import sweep
    from shakedown.planning.infrarollout.objects import format_time

    now = datetime.now(UTC)
    live = kube.create(
        "InfraRollout",
        ns,
        {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "InfraRollout",
            "metadata": {"name": "live"},
            "spec": {
                "targets": [{"kind": "Deployment", "name": "web"}],
                "change": {"images": [{"container": "web", "image": "reg.example/web:2"}]},
            },
        },
    )
    cases = {
        "orphan": (f"{ns}/gone/uid-0", now + timedelta(hours=1)),
        "expired": (f"{ns}/live/{live['metadata']['uid']}", now - timedelta(seconds=1)),
        "kept": (f"{ns}/live/{live['metadata']['uid']}", now + timedelta(hours=1)),
    }
    for suffix, (owner, expires) in cases.items():
        kube.create(
            "Namespace",
            None,
            {
                "metadata": {
                    "name": f"{ns}-shadow-{suffix}",
                    "labels": {"shakedown.dev/shadow": "true"},
                    "annotations": {
                        "shakedown.dev/owner": owner,
                        "shakedown.dev/expires-at": format_time(expires),
                    },
                }
            },
        )
    deleted = sweep(kube, now)
    assert f"{ns}-shadow-orphan" in deleted and f"{ns}-shadow-expired" in deleted
    assert f"{ns}-shadow-kept" not in deleted
    kept = kube.get("Namespace", None, f"{ns}-shadow-kept")
    assert kept is not None and not kept["metadata"].get("deletionTimestamp")
    kube.delete("Namespace", None, f"{ns}-shadow-kept")
