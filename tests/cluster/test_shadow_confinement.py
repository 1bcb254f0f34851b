"""A shadow is confined like its production namespace, on the real cluster.

Production enforces the ``restricted`` Pod Security level; an InfraRollout
makes its container privileged. Production would refuse that pod, so the
shadow must too: the rollout fails in the shadow with the API server's
admission message in its status and Ready condition, and production is not
written (its Deployment and ConfigMap keep their resourceVersion).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client import ApiClient

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
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
