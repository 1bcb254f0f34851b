"""A shadow is confined like its production namespace, on the real cluster.

Production enforces the ``restricted`` Pod Security level; an InfraRollout
makes its container privileged. Production would refuse that pod, so the
shadow must too: the rollout fails in the shadow with the API server's
admission message in its status and Ready condition, and production is not
written (its Deployment and ConfigMap keep their resourceVersion).

A shadow with ``isolate: true`` is cut off from production: a copy of a task
runner that could reach the production queue would steal real work. Its pod
cannot reach production's Service nor the registry, yet resolves names and
reaches its own namespace's copy of the Service. The same probe from a shadow
with ``isolate: false`` reaches both, so the test fails on a cluster that
enforces no NetworkPolicy (the local cluster runs kube-router for that).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.stream import stream

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.demo.infrarollout import config_change, sample_targets, sample_workload
from shakedown.planning.infrarollout.confinement import DEFAULT_QUOTA_NAME
from tests.fixtures.operator import RunningOperator

pytestmark = pytest.mark.cluster

PSA = "pod-security.kubernetes.io/"
SECURITY_CONTEXT = "/spec/template/spec/containers/0/securityContext"
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def production(k8s_api: ApiClient, namespace: str, image: str) -> None:
    """A namespace enforcing ``restricted`` and a Deployment that meets it."""
    core, apps = kubeclient.core(k8s_api), kubeclient.apps(k8s_api)
    core.patch_namespace(namespace, {"metadata": {"labels": {PSA + "enforce": "restricted"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"A": "1"}})
    labels = {"app": "worker"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "worker", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "worker",
                                "image": image,
                                "command": ["sleep", "3600"],
                                "envFrom": [{"configMapRef": {"name": "cfg"}}],
                                "securityContext": RESTRICTED_CONTAINER,
                            }
                        ],
                    },
                },
            },
        },
    )


def privileged_rollout(k8s_api: ApiClient, namespace: str) -> None:
    kubeclient.custom(k8s_api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "infrarollouts",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InfraRollout",
            "metadata": {"name": "escalate"},
            "spec": {
                "targets": [
                    {"kind": "Deployment", "name": "worker"},
                    {"kind": "ConfigMap", "name": "cfg"},
                ],
                "change": {
                    "patches": [
                        {
                            "target": {"kind": "ConfigMap", "name": "cfg"},
                            "type": "merge",
                            "patch": {"data": {"A": "2"}},
                        },
                        {
                            "target": {"kind": "Deployment", "name": "worker"},
                            "type": "json",
                            "patch": [
                                {
                                    "op": "add",
                                    "path": f"{SECURITY_CONTEXT}/privileged",
                                    "value": True,
                                },
                                {
                                    "op": "replace",
                                    "path": f"{SECURITY_CONTEXT}/allowPrivilegeEscalation",
                                    "value": True,
                                },
                            ],
                        },
                    ]
                },
                "smokeTests": {"readyFor": "2s"},
                "timeout": "5m",
            },
        },
    )


def test_a_privileged_change_is_refused_in_the_shadow_of_a_restricted_namespace(
    k8s_api: ApiClient, operator: RunningOperator, namespace: str, busybox_image: str
) -> None:
    core, apps = kubeclient.core(k8s_api), kubeclient.apps(k8s_api)
    custom = kubeclient.custom(k8s_api)
    production(k8s_api, namespace, busybox_image)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # settled: its controller no longer writes its status
        live = apps.read_namespaced_deployment("worker", namespace)
        if (live.status.available_replicas or 0) == 1:
            break
        time.sleep(0.5)
    assert (live.status.available_replicas or 0) == 1, live.status
    deployment_version = apps.read_namespaced_deployment(
        "worker", namespace
    ).metadata.resource_version
    config_version = core.read_namespaced_config_map("cfg", namespace).metadata.resource_version

    privileged_rollout(k8s_api, namespace)
    shadow_labels: dict[str, str] = {}
    shadow_quotas: set[str] = set()
    status: dict[str, Any] = {}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and status.get("phase") not in ("Failed", "Succeeded"):
        obj = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "infrarollouts", "escalate"
        )
        status = obj.get("status") or {}
        shadow = status.get("shadowNamespace")
        if shadow and not shadow_labels:
            found = core.list_namespace(field_selector=f"metadata.name={shadow}").items
            shadow_labels = dict(found[0].metadata.labels or {}) if found else {}
        if shadow and not shadow_quotas:
            quotas = core.list_namespaced_resource_quota(shadow).items
            shadow_quotas = {q.metadata.name for q in quotas}
        time.sleep(0.2)

    assert status.get("phase") == "Failed", f"{status}\n{operator.log()[-4000:]}"
    message = status["message"]
    assert "violates PodSecurity" in message and '"restricted:latest"' in message, message
    assert "privileged" in message, message
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "violates PodSecurity" in ready["message"], ready
    assert shadow_labels[PSA + "enforce"] == "restricted", shadow_labels
    assert shadow_labels["shakedown.dev/shadow"] == "true"
    assert shadow_quotas == {DEFAULT_QUOTA_NAME}, "the default quota (production has none)"
    assert not status.get("shiftStarted")
    after = apps.read_namespaced_deployment("worker", namespace)
    assert after.metadata.resource_version == deployment_version, "production Deployment written"
    assert not (after.spec.template.spec.containers[0].security_context.privileged or False)
    assert core.read_namespaced_config_map("cfg", namespace).metadata.resource_version == (
        config_version
    ), "production ConfigMap written"


# -- isolate ----------------------------------------------------------------------------
def isolated_rollout(k8s_api: ApiClient, namespace: str, *, isolate: bool) -> None:
    """A message change to the sample web service, held in the shadow while the test probes."""
    kubeclient.custom(k8s_api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "infrarollouts",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InfraRollout",
            "metadata": {"name": "isolated"},
            "spec": {
                "targets": sample_targets("web"),
                "change": config_change("web", {"MESSAGE": "from-the-shadow"}),
                "shadow": {"isolate": isolate},
                # Long enough to stay in SmokeTesting while the test probes.
                "smokeTests": {"readyFor": "5m"},
                "timeout": "10m",
            },
        },
    )


def shadow_pod(k8s_api: ApiClient, namespace: str) -> tuple[str, str]:
    """(shadow namespace, name of its Ready web pod), once there is one."""
    custom, core = kubeclient.custom(k8s_api), kubeclient.core(k8s_api)
    status: dict[str, Any] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "infrarollouts", "isolated"
        )
        status = obj.get("status") or {}
        shadow = status.get("shadowNamespace")
        pods = core.list_namespaced_pod(shadow, label_selector="app=web").items if shadow else []
        for pod in pods:
            conditions = pod.status.conditions or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                return str(shadow), str(pod.metadata.name)
        time.sleep(0.5)
    pytest.fail(f"no Ready web pod in the shadow within 120s; rollout status: {status}")


PROBE = """fetch() {{ timeout 5 wget -q -O - "$1" 2>/dev/null | head -c 40 | tr -d '\n'; echo; }}
echo "dns=$(timeout 5 nslookup web.{prod}.svc.cluster.local >/dev/null 2>&1 && echo ok)"
echo "prod=$(fetch http://web.{prod}.svc.cluster.local:8080/)"
echo "registry=$(fetch http://{registry}/v2/_catalog)"
echo "own=$(fetch http://web:8080/)"
"""


def probe(k8s_api: ApiClient, shadow: str, pod: str, prod: str, registry: str) -> dict[str, str]:
    """What the shadow pod reaches: first bytes of each answer, empty when it reached nothing."""
    script = PROBE.format(prod=prod, registry=registry)
    out: str = stream(
        kubeclient.core(k8s_api).connect_get_namespaced_pod_exec,
        pod,
        shadow,
        command=["sh", "-c", script],
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
        _request_timeout=60,  # each request in the script gives up after 5 s
    )
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("isolate", [True, False], ids=["isolated", "control"])
def test_an_isolated_shadow_reaches_neither_production_nor_the_registry_but_resolves_names(
    k8s_api: ApiClient,
    operator: RunningOperator,
    namespace: str,
    busybox_image: str,
    registry: str,
    isolate: bool,
) -> None:
    apps = kubeclient.apps(k8s_api)
    for obj in sample_workload("web", busybox_image, replicas=1):
        if obj["kind"] == "ConfigMap":
            kubeclient.core(k8s_api).create_namespaced_config_map(namespace, obj)
        elif obj["kind"] == "Service":
            kubeclient.core(k8s_api).create_namespaced_service(namespace, obj)
        else:
            apps.create_namespaced_deployment(namespace, obj)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # production answers before the shadow is probed
        live = apps.read_namespaced_deployment("web", namespace)
        if (live.status.available_replicas or 0) == 1:
            break
        time.sleep(0.5)
    assert (live.status.available_replicas or 0) == 1, live.status
    isolated_rollout(k8s_api, namespace, isolate=isolate)
    shadow, pod = shadow_pod(k8s_api, namespace)
    policies = kubeclient.networking(k8s_api).list_namespaced_network_policy(shadow).items
    assert bool(policies) == isolate, [p.metadata.name for p in policies]

    # The enforcer picks the new pod up asynchronously: poll until it is, within bounds.
    wanted_prod = "" if isolate else "v1"
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = probe(k8s_api, shadow, pod, namespace, registry)
        if seen.get("prod") == wanted_prod and seen.get("own") == "from-the-shadow":
            break
        time.sleep(1)
    assert seen.get("prod") == wanted_prod, f"production's Service from the shadow: {seen}"
    assert seen.get("own") == "from-the-shadow", f"the shadow's own Service: {seen}"
    assert seen.get("dns") == "ok", f"name resolution in the shadow: {seen}"
    if isolate:
        assert seen.get("registry") == "", f"the registry from an isolated shadow: {seen}"
    else:
        assert seen.get("registry", "").startswith("{"), f"the registry (control): {seen}"
