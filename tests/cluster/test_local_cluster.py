"""The local cluster really runs pods: probes, Jobs, Services, DNS and CRD validation.

These run against whatever cluster the ``kubeconfig`` fixture provides (the
local one unless KUBECONFIG is set) and use only images built on this machine
(busybox FROM scratch, pushed to the test registry). Each test works in a
namespace of its own that is deleted afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from shakedown.adapters import kubeclient

pytestmark = pytest.mark.cluster

T = TypeVar("T")

#: Probe period of the readiness test; the pod must flip within a few of these.
PROBE_PERIOD = 2

WEB_SCRIPT = (
    "mkdir -p /www && echo ok > /www/healthz && echo hello-from-web > /www/index.html "
    "&& exec httpd -f -v -p 8080 -h /www"
)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 90) -> T:
    """Poll ``check`` until it returns a truthy value; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def namespace(k8s_api: ApiClient) -> Iterator[str]:
    core = kubeclient.core(k8s_api)
    name = f"local-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(
        "the namespace's default ServiceAccount",
        lambda: _exists(lambda: core.read_namespaced_service_account("default", name)),
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def web_deployment(name: str, image: str) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="web",
        image=image,
        command=["sh", "-c", WEB_SCRIPT],
        ports=[client.V1ContainerPort(container_port=8080)],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/healthz", port=8080),
            period_seconds=PROBE_PERIOD,
            failure_threshold=1,
            success_threshold=1,
            timeout_seconds=1,
        ),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=1),
            ),
        ),
    )


def pod_ready(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    pod = core.read_namespaced_pod(name, namespace)
    for cond in (pod.status and pod.status.conditions) or []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False


def deploy_web(k8s_api: ApiClient, namespace: str, image: str) -> str:
    """Create the web Deployment, wait until it is available; return its pod's name."""
    apps = kubeclient.apps(k8s_api)
    core = kubeclient.core(k8s_api)
    apps.create_namespaced_deployment(namespace, web_deployment("web", image))

    def available() -> bool:
        dep = apps.read_namespaced_deployment("web", namespace)
        return (dep.status.available_replicas or 0) >= 1

    wait_for("deployment web to become available", available, timeout=120)
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    return str(pods[0].metadata.name)


def run_job(
    k8s_api: ApiClient, namespace: str, name: str, image: str, script: str, timeout: float = 90
) -> str:
    """Run a one-container Job to completion and return its pod's log (read via the API)."""
    batch = kubeclient.batch(k8s_api)
    core = kubeclient.core(k8s_api)
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[
                        client.V1Container(name="main", image=image, command=["sh", "-c", script])
                    ],
                )
            ),
        ),
    )
    batch.create_namespaced_job(namespace, job)

    def finished() -> str | None:
        status = batch.read_namespaced_job(name, namespace).status
        if status.succeeded:
            return "succeeded"
        if status.failed:
            return "failed"
        return None

    result = wait_for(f"job {name} to finish", finished, timeout=timeout)
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    log = str(core.read_namespaced_pod_log(pods[0].metadata.name, namespace))
    assert result == "succeeded", f"job {name} failed; log:\n{log}"
    return log


def exec_in(k8s_api: ApiClient, namespace: str, pod: str, command: list[str]) -> str:
    core = kubeclient.core(k8s_api)
    out: str = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        stderr=True,
        stdout=True,
        stdin=False,
        tty=False,
    )
    return out


def test_readiness_probe_follows_the_served_file(
    k8s_api: ApiClient, namespace: str, busybox_image: str
) -> None:
    core = kubeclient.core(k8s_api)
    pod = deploy_web(k8s_api, namespace, busybox_image)
    assert pod_ready(core, namespace, pod)

    exec_in(k8s_api, namespace, pod, ["rm", "/www/healthz"])
    removed = time.monotonic()
    wait_for("the pod to turn NotReady", lambda: not pod_ready(core, namespace, pod), 30)
    not_ready_after = time.monotonic() - removed
    # One failed probe is enough (failureThreshold 1): allow one period of phase
    # shift, one for the probe, and the kubelet's status sync.
    assert not_ready_after <= 3 * PROBE_PERIOD + 2, f"NotReady only after {not_ready_after:.1f}s"

    exec_in(k8s_api, namespace, pod, ["sh", "-c", "echo ok > /www/healthz"])
    restored = time.monotonic()
    wait_for("the pod to turn Ready again", lambda: pod_ready(core, namespace, pod), 30)
    ready_after = time.monotonic() - restored
    assert ready_after <= 3 * PROBE_PERIOD + 2, f"Ready again only after {ready_after:.1f}s"


def test_job_runs_to_completion_and_its_log_is_readable(
    k8s_api: ApiClient, namespace: str, busybox_image: str
) -> None:
    token = uuid.uuid4().hex
    log = run_job(k8s_api, namespace, "echo", busybox_image, f"echo job says {token}; uname -s")
    assert f"job says {token}" in log
    assert "Linux" in log


def _service(k8s_api: ApiClient, namespace: str) -> str:
    core = kubeclient.core(k8s_api)
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(
            selector={"app": "web"},
            ports=[client.V1ServicePort(port=80, target_port=8080)],
        ),
    )
    created = core.create_namespaced_service(namespace, svc)
    return str(created.spec.cluster_ip)


def test_service_routes_by_cluster_ip(
    k8s_api: ApiClient, namespace: str, busybox_image: str
) -> None:
    deploy_web(k8s_api, namespace, busybox_image)
    cluster_ip = _service(k8s_api, namespace)
    assert cluster_ip.startswith("198.19."), cluster_ip
    log = run_job(
        k8s_api,
        namespace,
        "client",
        busybox_image,
        f"timeout 5 wget -q -O - http://{cluster_ip}/index.html",
    )
    assert "hello-from-web" in log


def test_service_routes_by_dns_name(k8s_api: ApiClient, namespace: str, busybox_image: str) -> None:
    deploy_web(k8s_api, namespace, busybox_image)
    _service(k8s_api, namespace)
    log = run_job(
        k8s_api,
        namespace,
        "dns-client",
        busybox_image,
        f"nslookup web.{namespace}.svc.cluster.local; timeout 5 wget -q -O - http://web/index.html",
    )
    assert "hello-from-web" in log


def test_crd_schema_is_enforced_by_the_api_server(k8s_api: ApiClient) -> None:
    ext = kubeclient.apiextensions(k8s_api)
    custom = kubeclient.custom(k8s_api)
    group = f"g{uuid.uuid4().hex[:6]}.test.shakedown.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:

        def established() -> bool:
            got = ext.read_custom_resource_definition(f"widgets.{group}")
            return any(
                c.type == "Established" and c.status == "True"
                for c in (got.status.conditions or [])
            )

        wait_for("the CRD to be established", established, timeout=30)

        def create(size: object) -> Any:
            body = {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": f"w-{uuid.uuid4().hex[:6]}"},
                "spec": {"size": size},
            }
            return custom.create_cluster_custom_object(group, "v1", "widgets", body)

        ok = wait_for("the new resource to be served", lambda: _try_create(create, 3))
        assert ok["spec"]["size"] == 3
        for bad in ("big", 0):
            with pytest.raises(ApiException) as refused:
                create(bad)
            assert refused.value.status == 422
            assert "spec.size" in str(refused.value.body)
    finally:
        ext.delete_custom_resource_definition(f"widgets.{group}")


def _try_create(create: Callable[[object], Any], size: int) -> Any:
    try:
        return create(size)
    except ApiException as exc:
        if exc.status == 404:  # discovery of the new resource not settled yet
            return None
        raise
