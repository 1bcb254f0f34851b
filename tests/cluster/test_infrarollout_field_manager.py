"""Production written with server-side apply under the field manager ``shakedown``.

Given the web service created by a client (the tests' own client, as kubectl
would), when an InfraRollout whose full manifest of the ConfigMap drops a key
the client wrote succeeds, then production is exactly the manifest (the key is
gone, as with a replace) and ``managedFields`` names shakedown's apply as the
owner of the fields, not the client.
"""

from __future__ import annotations

from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.infrarollout import Operator, create_rollout, wait_phase, workload

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]


def main_managers(obj: dict[str, Any]) -> set[str]:
    return {
        f"{m['manager']}/{m['operation']}"
        for m in obj["metadata"].get("managedFields") or []
        if not m.get("subresource")
    }


def test_a_rollout_owns_what_it_writes_and_removes_what_its_manifest_drops(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    kube.merge_patch("ConfigMap", ns, "web-config", {"data": {"LEFTOVER": "from kubectl"}})
    before = kube.get("ConfigMap", ns, "web-config") or {}
    assert "shakedown/Apply" not in main_managers(before)

    create_rollout(
        kube,
        ns,
        {
            "targets": [
                {"kind": "Deployment", "name": "web"},
                {"kind": "ConfigMap", "name": "web-config"},
            ],
            "change": {
                "manifests": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "web-config"},
                        "data": {"MESSAGE": "v2"},
                    }
                ]
            },
            "shadow": {"ttl": "10m", "replicas": 1},
            "smokeTests": {"readyFor": "3s"},
            "bake": "3s",
            "timeout": "5m",
        },
    )
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=240)
    assert final["phase"] == "Succeeded", final

    config = kube.get("ConfigMap", ns, "web-config") or {}
    assert config["data"] == {"MESSAGE": "v2"}
    assert main_managers(config) == {"shakedown/Apply"}
    deployment = kube.get("Deployment", ns, "web") or {}
    assert "shakedown/Apply" in main_managers(deployment)
    assert not {m for m in main_managers(deployment) if not m.startswith(("shakedown/", "kube-"))}
