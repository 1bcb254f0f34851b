"""The plain manifests: they apply, the operator pod passes the restricted policy,
and the operator runs with nothing but the ServiceAccount's least-privilege RBAC
(here as a process holding the ServiceAccount's token; test_in_cluster_install.py
runs the operator image in the cluster).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from tests.fixtures.install import (
    apply,
    assert_no_403,
    create_config_rollout,
    delete,
    refused,
    service_account_api,
    web_app,
)
from tests.fixtures.operator import release_shakedown_objects, running_operator

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "manifests").glob("*.yaml"))
SYSTEM_NS = "shakedown-system"
#: The label that opens a namespace to the operator's writes (15-scope-policy.yaml).
WATCHED = {"shakedown.dev/watched": "true"}


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def installed(k8s_api: ApiClient, crds: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Namespace, RBAC and the Deployment applied for real (the image is not pulled here)."""
    dyn = kubeclient.dynamic(k8s_api)
    applied = []
    for path in MANIFESTS:
        for doc in docs(path):
            apply(dyn, doc)
            applied.append(doc)
    yield applied
    for doc in reversed(applied):
        if doc["kind"] == "Namespace":
            continue  # left in place: deleting it is slow and other sessions may reuse it
        delete(dyn, doc)


def test_manifests_apply(installed: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in installed}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "Deployment",
    } <= kinds


def test_operator_pod_is_admitted_by_the_restricted_policy(
    k8s_api: ApiClient, installed: list[dict[str, Any]]
) -> None:
    core = kubeclient.core(k8s_api)
    ns = core.read_namespace(SYSTEM_NS)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = next(d for d in installed if d["kind"] == "Deployment")
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "shakedown-admission-check", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    # Enforcement happens at admission, which a dry run goes through.
    created = core.create_namespaced_pod(SYSTEM_NS, pod, dry_run="All")
    assert created.spec.containers[0].security_context.run_as_non_root is True
    # And a pod that breaks the policy is refused there, so the check above means something.
    bad = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
    bad["spec"]["containers"] = [{**pod["spec"]["containers"][0], "securityContext": {}}]
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(SYSTEM_NS, bad, dry_run="All")
    assert refused.value.status == 403
    assert "restricted" in str(refused.value.body)


def service_account_kubeconfig(k8s_api: ApiClient, path: Path) -> Path:
    """A kubeconfig that authenticates as the operator's ServiceAccount (a bound token)."""
    core = kubeclient.core(k8s_api)
    request = core.create_namespaced_service_account_token(
        "shakedown", SYSTEM_NS, {"spec": {"expirationSeconds": 3600}}
    )
    cfg = k8s_api.configuration
    ca = Path(cfg.ssl_ca_cert).read_bytes() if cfg.ssl_ca_cert else b""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cfg.host,
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": "shakedown", "user": {"token": request.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "shakedown"}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    path.chmod(0o600)
    return path


def test_operator_runs_with_only_its_rbac(
    k8s_api: ApiClient, installed: list[dict[str, Any]], tmp_path: Path
) -> None:
    core = kubeclient.core(k8s_api)
    custom = kubeclient.custom(k8s_api)
    namespace = f"sdrbac-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": namespace, "labels": WATCHED}})
    kubeconfig = service_account_kubeconfig(k8s_api, tmp_path / "sa.kubeconfig")
    try:
        with running_operator(kubeconfig, namespace, tmp_path / "operator.log") as running:
            custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "containerimagerefreshes",
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "ContainerImageRefresh",
                    "metadata": {"name": "rbac"},
                    "spec": {
                        "image": "registry.example/ci/rbac",
                        "source": {"configMap": {"name": "ctx"}},
                        "schedule": "0 0 31 2 *",
                        "tests": [{"name": "t"}],
                    },
                },
            )
            deadline = time.monotonic() + 30
            stalled: dict[str, Any] = {}
            while time.monotonic() < deadline and stalled.get("status") != "True":
                obj = custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "containerimagerefreshes", "rbac"
                )
                conds = (obj.get("status") or {}).get("conditions", [])
                stalled = next((c for c in conds if c["type"] == "Stalled"), {})
                time.sleep(0.3)
            assert stalled.get("status") == "True", running.log()[-3000:]
            assert stalled["message"].startswith("spec.schedule")
            events = core.list_namespaced_event(namespace).items
            assert any(e.reason == "InvalidSpec" for e in events)
            log = running.log()
            assert_no_403(log)
            assert "Traceback" not in log, log[-3000:]
    finally:
        release_shakedown_objects(k8s_api, namespace)
        core.delete_namespace(namespace)


def test_rollout_succeeds_with_only_its_rbac(
    k8s_api: ApiClient, installed: list[dict[str, Any]], busybox_image: str, tmp_path: Path
) -> None:
    """A whole InfraRollout (snapshot, shadow namespace, NetworkPolicy, smoke test, shift,
    bake) by an operator that holds nothing but the manifests' RBAC."""
    core = kubeclient.core(k8s_api)
    custom = kubeclient.custom(k8s_api)
    namespace = f"sdrbac-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": namespace, "labels": WATCHED}})
    web_app(k8s_api, namespace, busybox_image)
    kubeconfig = service_account_kubeconfig(k8s_api, tmp_path / "sa.kubeconfig")
    try:
        with running_operator(
            kubeconfig,
            namespace,
            tmp_path / "operator.log",
            env={"SHAKEDOWN_PROBE_IMAGE": busybox_image},
        ) as running:
            create_config_rollout(k8s_api, namespace)
            deadline = time.monotonic() + 240
            phase = None
            while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
                obj = custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "infrarollouts", "config"
                )
                phase = (obj.get("status") or {}).get("phase")
                time.sleep(1)
            log = running.log()
            assert phase == "Succeeded", f"{obj.get('status')}\n{log[-4000:]}"
            assert_no_403(log)
            data = core.read_namespaced_config_map("web-config", namespace).data
            assert data["MESSAGE"] == "v2"
            release_shakedown_objects(k8s_api, namespace, timeout=60)
    finally:
        release_shakedown_objects(k8s_api, namespace, timeout=5)
        core.delete_namespace(namespace)


def test_refresh_run_succeeds_with_only_its_rbac(
    k8s_api: ApiClient,
    installed: list[dict[str, Any]],
    registry: str,
    builder_image: str,
    tmp_path: Path,
) -> None:
    """A whole refresh run (build Job, push, test Jobs and their logs, tag move, Events)
    by an operator that holds nothing but the manifests' RBAC."""
    from tests.fixtures.imagerefresh import Refreshes

    core = kubeclient.core(k8s_api)
    namespace = f"sdrbac-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": namespace, "labels": WATCHED}})
    refreshes = Refreshes(k8s_api, namespace, registry)
    refreshes.config_map(
        "ctx",
        {"Containerfile": f'FROM {registry}/shakedown/busybox:latest\nRUN echo "built" > /built\n'},
    )
    kubeconfig = service_account_kubeconfig(k8s_api, tmp_path / "sa.kubeconfig")
    try:
        with running_operator(kubeconfig, namespace, tmp_path / "operator.log") as running:
            refreshes.create(
                "app",
                {
                    "image": refreshes.image("app"),
                    "source": {"configMap": {"name": "ctx"}},
                    "tests": [{"name": "built", "command": ["cat", "/built"], "timeout": "1m"}],
                },
            )
            status = refreshes.wait_run("app", "1", timeout=240)
            log = running.log()
            assert status["lastRun"]["phase"] == "Succeeded", f"{status}\n{log[-4000:]}"
            assert refreshes.tag_digest("app", "latest") == status["promotedDigest"]
            assert_no_403(log)
            release_shakedown_objects(k8s_api, namespace, timeout=60)
    finally:
        release_shakedown_objects(k8s_api, namespace, timeout=5)
        core.delete_namespace(namespace)


def test_the_service_account_writes_only_in_watched_and_shadow_namespaces(
    k8s_api: ApiClient, installed: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Its ClusterRole reaches every namespace; the scope policy confines its writes."""
    admin = kubeclient.core(k8s_api)
    suffix = secrets.token_hex(3)
    watched, unrelated = f"sdscope-{suffix}", f"sdscope-{suffix}-other"
    shadow = f"sdscope-{suffix}-shadow-x-1"
    admin.create_namespace({"metadata": {"name": watched, "labels": WATCHED}})
    admin.create_namespace({"metadata": {"name": unrelated}})
    sa_api = service_account_api(k8s_api, SYSTEM_NS, "shakedown")
    sa = kubeclient.core(sa_api)
    leases = kubeclient.coordination(sa_api)
    try:

        def config_map(namespace: str, dry_run: str | None = "All") -> Any:
            body = {"metadata": {"name": "scope-probe"}, "data": {"a": "b"}}
            return sa.create_namespaced_config_map(namespace, body, dry_run=dry_run)

        # A policy takes a moment to reach the API server's admission: wait until it refuses.
        deadline = time.monotonic() + 30
        while True:
            try:
                config_map("kube-system")
            except ApiException as exc:
                if exc.status == 403:
                    break
                raise
            assert time.monotonic() < deadline, "the scope policy never took effect"
            time.sleep(0.5)

        assert "only in namespaces labelled shakedown.dev/watched=true" in refused(
            lambda: config_map("kube-system")
        )
        assert "not in " + unrelated in refused(lambda: config_map(unrelated))
        assert "only its shadow namespaces" in refused(
            lambda: sa.create_namespace(
                {"metadata": {"name": f"sdscope-{suffix}-x"}}, dry_run="All"
            )
        )
        assert "only its shadow namespaces" in refused(
            lambda: sa.delete_namespace(unrelated, dry_run="All")
        )
        assert "cannot patch" in refused(  # RBAC: namespaces are never patched
            lambda: sa.patch_namespace("kube-system", {"metadata": {"labels": {"a": "b"}}})
        )

        # Allowed: writes in a watched namespace, and a shadow namespace it creates labelled.
        assert config_map(watched, dry_run=None).metadata.name == "scope-probe"
        labels = {"shakedown.dev/shadow": "true", "shakedown.dev/infrarollout": "x"}
        sa.create_namespace({"metadata": {"name": shadow, "labels": labels}})
        assert config_map(shadow, dry_run=None).metadata.namespace == shadow
        lease = {"metadata": {"name": "scope-probe"}, "spec": {"holderIdentity": "t"}}
        assert leases.create_namespaced_lease(watched, lease).metadata.name == "scope-probe"
        # Locks live only where rollouts are, and pods are run only in shadows.
        assert "not in " + shadow in refused(
            lambda: leases.create_namespaced_lease(shadow, lease, dry_run="All")
        )
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        assert "not in " + watched in refused(
            lambda: sa.create_namespaced_pod(watched, pod, dry_run="All")
        )
        sa.delete_namespace(shadow)
    finally:
        for name in (watched, unrelated, shadow):
            with contextlib.suppress(ApiException):
                admin.delete_namespace(name)


def test_leader_election_works_with_only_its_rbac(
    k8s_api: ApiClient, installed: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The Role and the scope policy let the operator hold its one Lease, and no other."""
    leases = kubeclient.coordination(k8s_api)
    name = "shakedown-leader"
    as_operator = kubeclient.coordination(service_account_api(k8s_api, SYSTEM_NS, "shakedown"))
    other = {"metadata": {"name": "not-the-leader"}, "spec": {"holderIdentity": "x"}}
    message = refused(lambda: as_operator.create_namespaced_lease(SYSTEM_NS, other))
    assert "coordination.k8s.io" in message or "leases" in message, message
    kubeconfig = service_account_kubeconfig(k8s_api, tmp_path / "sa.kubeconfig")
    args = ["--leader-election", f"--leader-election-name={name}"]
    env = {"POD_NAMESPACE": SYSTEM_NS}
    log_path = tmp_path / "operator.log"

    def holder() -> str:
        try:
            return str(leases.read_namespaced_lease(name, SYSTEM_NS).spec.holder_identity or "")
        except ApiException as exc:
            if exc.status == 404:
                return ""
            raise

    try:
        with running_operator(
            kubeconfig, f"sdle-{secrets.token_hex(3)}", log_path, env=env, extra_args=args
        ) as running:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and f"_{running.pid}_" not in holder():
                time.sleep(0.3)
            assert f"_{running.pid}_" in holder(), running.log()[-3000:]
            first = leases.read_namespaced_lease(name, SYSTEM_NS).metadata.resource_version
            deadline = time.monotonic() + 30
            renewed = first
            while time.monotonic() < deadline and renewed == first:
                renewed = leases.read_namespaced_lease(name, SYSTEM_NS).metadata.resource_version
                time.sleep(0.3)
            assert renewed != first, "the leader never renewed its Lease"
            assert "Starting Kopf" in running.log()
            assert_no_403(running.log())
        # Stopped cleanly: the Lease is handed over at once.
        assert holder() == "", log_path.read_text()[-3000:]
    finally:
        with contextlib.suppress(ApiException):
            leases.delete_namespaced_lease(name, SYSTEM_NS)
