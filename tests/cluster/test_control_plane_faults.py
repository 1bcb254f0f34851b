"""Control-plane outages in the middle of a rollout: nothing is done twice, nothing is lost.

Issue 10, item 9. The local cluster's API server is stopped and started again
(same arguments and data) while a rollout bakes and its production pods then
fail; etcd is stopped and started while a rollout proves its change in the
shadow. The registry going away while a refresh promotes is covered by
``test_imagerefresh_resume.py``.

"Once" is read off production itself: every template change of the
Deployment bumps its generation and makes a ReplicaSet, so one shift and one
rollback are exactly two generations and two ReplicaSets.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from shakedown.localcluster import restart
from shakedown.localcluster.layout import Layout
from tests.fixtures.infrarollout import (
    Operator,
    config_data,
    deployment_ready,
    rollout,
    status,
    wait_phase,
    workload,
)

pytestmark = pytest.mark.cluster


def _layout(local_cluster: Layout | None) -> Layout:
    assert local_cluster is not None, "these faults need the project's local cluster"
    return local_cluster


def tracebacks_above_debug(log: str) -> list[str]:
    """Log records that carry a traceback at INFO or above (DEBUG ones are for developers)."""
    records = re.split(r"\n(?=\[\d{4}-\d\d-\d\d )", log)
    return [r[:300] for r in records if "Traceback" in r and "[DEBUG" not in r.split("\n", 1)[0]]


def _wait_for_phase(kube: Kube, ns: str, phases: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = status(kube, ns)
        except Exception:  # the API server may be the thing that is down
            last = {}
        if last.get("phase") in phases:
            return last
        time.sleep(0.3)
    raise AssertionError(f"not in {sorted(phases)} within {timeout}s: {last}")


def test_api_server_restarted_during_a_failing_bake_rolls_back_once(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    local_cluster: Layout | None,
) -> None:
    layout = _layout(local_cluster)
    workload(kube, ns, busybox_image)
    generation_before = (kube.get("Deployment", ns, "web") or {})["metadata"]["generation"]
    # Production's new pods turn NotReady 20 s after they start: while the API
    # server is down, or just after it is back.
    rollout(kube, ns, message="v2", fail_after=20, bake="120s", http=False)
    _wait_for_phase(kube, ns, {"Baking"}, timeout=180)
    gone = restart.restart(layout, "kube-apiserver", down_for=8, say=print)
    print(f"API server gone for {gone:.1f}s during the bake")
    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=180)
    assert final["phase"] == "RolledBack", final
    assert final["rollbackReason"].startswith("NotReady"), final["rollbackReason"]
    deployment = kube.get("Deployment", ns, "web") or {}
    assert deployment["metadata"]["generation"] == generation_before + 2, "one shift, one rollback"
    replica_sets = kube.list("ReplicaSet", ns, labels="app=web")
    assert len(replica_sets) == 2, [r["metadata"]["name"] for r in replica_sets]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert deployment_ready(kube, ns, "web")
    assert [h["result"] for h in final["history"]] == ["RolledBack"]
    assert not tracebacks_above_debug(iro_operator.log())


def test_etcd_restarted_while_the_shadow_is_proven_shifts_once(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    local_cluster: Layout | None,
) -> None:
    layout = _layout(local_cluster)
    workload(kube, ns, busybox_image)
    generation_before = (kube.get("Deployment", ns, "web") or {})["metadata"]["generation"]
    rollout(kube, ns, message="v2", bake="5s", http=True)
    _wait_for_phase(kube, ns, {"Shadowing", "SmokeTesting"}, timeout=120)
    gone = restart.restart(layout, "etcd", down_for=5, say=print)
    print(f"etcd gone for {gone:.1f}s while the shadow was proven")
    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=240)
    assert final["phase"] == "Succeeded", final
    deployment = kube.get("Deployment", ns, "web") or {}
    assert deployment["metadata"]["generation"] == generation_before + 1, "one shift"
    assert config_data(kube, ns) == {"MESSAGE": "v2"}
    assert deployment_ready(kube, ns, "web")
    assert [h["result"] for h in final["history"]] == ["Succeeded"]
    assert not tracebacks_above_debug(iro_operator.log())
