"""Scenarios that drive objects into the states the Argo CD fixtures need.

Not collected by a normal run (the name does not start with ``test_``); run it
explicitly while hack/argocd_capture.py watches the cluster:

    export SHAKEDOWN_STATE=/work/cold/.shakedown
    .venv/bin/python hack/argocd_capture.py --minutes 30 --out tests/data/argocd &
    .venv/bin/pytest tests/cluster/argocd_capture_scenarios.py

Most states come from the ordinary cluster tests (test_imagerefresh_runs,
test_infrarollout_e2e, test_infrarollout_prove); these cover the ones no test
reaches on its way: a refresh with two promoted digests, rolled back, suspended,
with an unusable schedule, and running again after a failure; a rollout held
by ``shakedown.dev/paused``, and one with no revision yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.infrarollout import (
    Operator,
    rollout,
    status,
    wait_for,
    wait_phase,
    workload,
)

pytestmark = pytest.mark.cluster

TESTS = [{"name": "check", "command": ["/bin/sh", "/check.sh"], "timeout": "1m"}]


def _context(registry: str, check: str) -> dict[str, str]:
    return {
        "Containerfile": (
            f"FROM {registry}/shakedown/busybox:latest\nARG VERSION=0\n"
            'RUN echo "version $VERSION" > /version\nCOPY check.sh /check.sh\n'
        ),
        "check.sh": check,
    }


def test_refresh_states(refreshes: Refreshes, registry: str) -> None:
    ok, bad = "#!/bin/sh\necho ok\n", "#!/bin/sh\necho 'FAIL: broken'; exit 3\n"
    refreshes.config_map("ctx", _context(registry, ok))
    spec = {
        "image": refreshes.image("app"),
        "tag": "stable",
        "source": {"configMap": {"name": "ctx"}, "buildArgs": {"VERSION": "1"}},
        "tests": TESTS,
    }
    refreshes.create("app", spec)
    assert refreshes.wait_run("app", "1")["lastRun"]["phase"] == "Succeeded"
    refreshes.patch_spec("app", {"source": {"buildArgs": {"VERSION": "2"}}})
    assert refreshes.wait_run("app", "2")["lastRun"]["phase"] == "Succeeded"
    assert refreshes.cli("rollback", "cir", "app", "-n", refreshes.namespace).returncode == 0
    refreshes.wait_for(
        "the rollback",
        lambda: refreshes.status("app").get("handledRollbackTo"),
    )
    refreshes.patch_spec("app", {"suspend": True})
    refreshes.wait_for(
        "Suspended",
        lambda: any(
            c["type"] == "Suspended" and c["status"] == "True"
            for c in refreshes.status("app").get("conditions") or []
        ),
    )
    refreshes.patch_spec("app", {"suspend": False})
    refreshes.config_map("ctx", _context(registry, bad))
    refreshes.patch_spec("app", {"source": {"buildArgs": {"VERSION": "3"}}})
    assert refreshes.wait_run("app", "3")["lastRun"]["phase"] == "Failed"
    refreshes.config_map("ctx", _context(registry, ok))
    assert refreshes.cli("trigger", "cir", "app", "-n", refreshes.namespace).returncode == 0
    assert refreshes.wait_run("app", "4")["lastRun"]["phase"] == "Succeeded"
    refreshes.patch_spec("app", {"schedule": "99 * * * *"})
    refreshes.wait_for(
        "Stalled",
        lambda: any(
            c["type"] == "Stalled" and c["status"] == "True"
            for c in refreshes.status("app").get("conditions") or []
        ),
    )


def test_rollout_states(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str, kubeconfig: Path
) -> None:
    workload(kube, ns, busybox_image)
    canary = {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"weight": 100}]}}
    rollout(kube, ns, message="v2", strategy=canary, bake="3s", http=False)
    kube.merge_patch(
        "InfraRollout",
        ns,
        "change",
        {"metadata": {"annotations": {"shakedown.dev/paused": "true"}}},
    )
    wait_for(
        lambda: (
            status(kube, ns).get("phase") == "Shifting"
            and "paused" in (status(kube, ns).get("waitingFor") or "")
        ),
        120,
        "the hold",
        lambda: status(kube, ns),
    )
    kube.merge_patch(
        "InfraRollout", ns, "change", {"metadata": {"annotations": {"shakedown.dev/paused": None}}}
    )
    assert wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})["phase"] == "Succeeded"
    spec = {
        "targets": [{"kind": "Deployment", "name": "web"}],
        "imageFrom": {"containerImageRefresh": "missing", "container": "web"},
    }
    kube.create(
        "InfraRollout",
        ns,
        {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "InfraRollout",
            "metadata": {"name": "waiting"},
            "spec": spec,
        },
    )
    wait_for(
        lambda: status(kube, ns, "waiting").get("conditions"),
        60,
        "the rollout without a revision",
        lambda: status(kube, ns, "waiting"),
    )
