"""The operator, started against the cluster, reports kstatus conditions and Events.

A valid object gets Ready/Reconciling/Stalled within seconds, with
observedGeneration and lastTransitionTime; a spec the schema accepts but the
operator cannot act on gets Stalled=True, reason InvalidSpec, and a message
naming the field; each is announced by an Event; nothing ends up as a
traceback in the operator's log.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from kubernetes.client import ApiClient

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from tests.fixtures.operator import RunningOperator

pytestmark = pytest.mark.cluster

T = TypeVar("T")
WITHIN = 20.0  # seconds: "within seconds", with room for a loaded 2-core machine


def eventually(probe: Callable[[], T | None], *, timeout: float = WITHIN, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what} (last: {last!r})")


def conditions(api: Any, ns: str, plural: str, name: str) -> dict[str, Any]:
    obj = api.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def events_for(k8s_api: ApiClient, ns: str, name: str) -> list[Any]:
    core = kubeclient.core(k8s_api)
    return [e for e in core.list_namespaced_event(ns).items if e.involved_object.name == name]


def cir(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": "registry.example/ci/unit-tests",
        "source": {"configMap": {"name": "unit-tests-context"}},
        "tests": [{"name": "smoke", "command": ["/bin/true"]}],
        "suspend": True,  # nothing to build here: this test is about conditions
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ContainerImageRefresh",
        "metadata": {"name": name},
        "spec": body,
    }


def iro(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targets": [{"kind": "Deployment", "name": "absent"}],
        "change": {"images": [{"container": "app", "image": "registry.example/app:2"}]},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InfraRollout",
        "metadata": {"name": name},
        "spec": body,
    }


def test_valid_object_gets_kstatus_conditions(
    operator: RunningOperator, k8s_api: ApiClient, namespace: str
) -> None:
    api = kubeclient.custom(k8s_api)
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "containerimagerefreshes", cir("valid")
    )
    generation = created["metadata"]["generation"]
    found = eventually(
        lambda: conditions(api, namespace, "containerimagerefreshes", "valid") or None,
        what="conditions on a valid ContainerImageRefresh",
    )
    assert set(found) >= {"Ready", "Reconciling", "Stalled"}
    assert found["Stalled"]["status"] == "False"
    # Suspended and never run: not Ready yet, and nothing in progress (the run
    # planner decides between False and Unknown for Ready).
    assert found["Ready"]["status"] in ("False", "Unknown")
    assert found["Reconciling"]["status"] == "False"
    for cond in found.values():
        assert cond["observedGeneration"] == generation
        assert cond["lastTransitionTime"].endswith("Z")
        assert cond["reason"]
    obj = api.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "containerimagerefreshes", "valid"
    )
    assert obj["status"]["observedGeneration"] == generation
    eventually(lambda: events_for(k8s_api, namespace, "valid"), what="an Event for it")


@pytest.mark.parametrize(
    ("plural", "obj", "field", "fix"),
    [
        (
            "containerimagerefreshes",
            cir("never-fires", schedule="0 0 30 2 *"),
            "spec.schedule",
            {"spec": {"schedule": "0 0 1 2 *"}},
        ),
        (
            "containerimagerefreshes",
            cir("no-such-zone", schedule="0 3 * * *", timeZone="Mars/Olympus_Mons"),
            "spec.timeZone",
            {"spec": {"timeZone": "Europe/Berlin"}},
        ),
        (
            "infrarollouts",
            iro(
                "daemonset-canary",
                targets=[{"kind": "DaemonSet", "name": "node-agent"}],
                strategy={"type": "Canary", "canary": {"steps": [{"weight": 50}]}},
            ),
            "spec.targets[0].kind",
            {"spec": {"strategy": {"type": "Replace", "canary": None}}},
        ),
        (
            "infrarollouts",
            iro(
                "json-patch-object",
                targets=[
                    {"kind": "Deployment", "name": "absent"},
                    {"kind": "ConfigMap", "name": "absent-config"},
                ],
                change={
                    "patches": [
                        {
                            "target": {"kind": "ConfigMap", "name": "absent-config"},
                            "type": "json",
                            "patch": {"data": {"A": "1"}},
                        }
                    ]
                },
            ),
            "spec.change.patches[0].patch",
            {
                "spec": {
                    "change": {
                        "patches": None,
                        "images": [{"container": "app", "image": "r.example/app:3"}],
                    }
                }
            },
        ),
    ],
    ids=["cron-never-fires", "unknown-time-zone", "daemonset-with-canary", "json-patch-object"],
)
def test_semantically_invalid_object_is_stalled_naming_the_field(
    operator: RunningOperator,
    k8s_api: ApiClient,
    namespace: str,
    plural: str,
    obj: dict[str, Any],
    field: str,
    fix: dict[str, Any],
) -> None:
    api = kubeclient.custom(k8s_api)
    name = obj["metadata"]["name"]
    # The schema accepts it: only the operator can tell.
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, obj)

    def stalled() -> dict[str, Any] | None:
        found = conditions(api, namespace, plural, name)
        stalled = found.get("Stalled")
        return found if stalled and stalled["status"] == "True" else None

    found = eventually(stalled, what=f"Stalled=True on {plural}/{name}")
    assert found["Stalled"]["reason"] == "InvalidSpec"
    assert found["Stalled"]["message"].startswith(field), found["Stalled"]["message"]
    assert found["Ready"]["status"] == "False"
    assert found["Reconciling"]["status"] == "False"

    warnings = eventually(
        lambda: [e for e in events_for(k8s_api, namespace, name) if e.type == "Warning"],
        what="a Warning Event",
    )
    assert warnings[0].reason == "InvalidSpec"
    assert field in warnings[0].message

    # Fixing the field clears the InvalidSpec verdict for the new generation (an
    # InfraRollout then really runs, and may stall for its own reasons: here its
    # targets do not exist).
    patched = api.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, fix)
    generation = patched["metadata"]["generation"]

    def recovered() -> dict[str, Any] | None:
        found = conditions(api, namespace, plural, name)
        cond = found.get("Stalled", {})
        if cond.get("observedGeneration") != generation:
            return None
        return found if cond.get("status") == "False" or cond["reason"] != "InvalidSpec" else None

    eventually(recovered, what=f"no InvalidSpec after fixing {field}")
    assert "Traceback" not in operator.log()


def test_metrics_are_served(operator: RunningOperator) -> None:
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert "shakedown_build_info" in text
    assert "shakedown_reconciliations_total" in text
