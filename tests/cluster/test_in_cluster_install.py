"""Install shakedown the way users do, from the operator image and manifests/.

The operator image is built by the project (a wheel in a venv on Debian,
``shakedown.localcluster.operator_image``); crds/ and manifests/ are loaded as
YAML, the images (operator, builder, probe) substituted and applied with the
Kubernetes client, as ``kubectl apply -f crds/ && kubectl apply -f manifests/``
would. The operator pod must become Available in a namespace that enforces the
restricted Pod Security Standard, then handle a valid ContainerImageRefresh (a
whole refresh run: its build Job uses the builder image from the Deployment's
environment) and a semantically invalid InfraRollout (Stalled, naming the field).
Then everything installed is removed again, custom resources first while the
operator still runs, so no namespace hangs on a finalizer.

The Helm chart in per-namespace mode (``watchNamespaces``) gets the same kind of
proof for the shadow namespaces InfraRollouts create: a whole rollout through
one (copies, HTTP check pod with the probe image, shift, bake) without a 403.

Other sessions share the cluster, so the install is renamed: its namespace and
cluster-scoped names carry a random suffix, and the operator watches only the
test's namespace. The CRDs stay (other sessions' operators use them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient

# The helm binary (built once from hack/helm), registered here as the fixture chart_helm.
from tests.cluster.test_chart import helm as chart_helm  # noqa: F401
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.install import (
    apply,
    assert_no_403,
    create_config_rollout,
    create_rollout,
    delete,
    refused,
    service_account_api,
    web_app,
)
from tests.fixtures.operator import install_crds, release_shakedown_objects

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"
MANIFEST_NS = "shakedown-system"


def manifest_docs() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((REPO / "manifests").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def customized(
    docs: list[dict[str, Any]],
    *,
    suffix: str,
    system_ns: str,
    watch_ns: str,
    images: dict[str, str],
) -> list[dict[str, Any]]:
    """The manifests with the images set and every shared name made unique.

    ``images``: ``operator`` (the Deployment's image) and the values of the
    environment variables of the operator container to replace.
    """
    out = []
    for original in docs:
        doc = yaml.safe_load(yaml.safe_dump(original))  # deep copy
        meta = doc["metadata"]
        if doc["kind"] == "Namespace":
            meta["name"] = system_ns
        elif meta.get("namespace") == MANIFEST_NS:
            meta["namespace"] = system_ns
        else:  # cluster-scoped: ClusterRole(Binding), ValidatingAdmissionPolicy(Binding)
            meta["name"] = f"{meta['name']}-{suffix}"
        if doc["kind"] == "ValidatingAdmissionPolicyBinding":
            doc["spec"]["policyName"] = f"{doc['spec']['policyName']}-{suffix}"
        if doc["kind"] == "ValidatingAdmissionPolicy":
            for condition in doc["spec"]["matchConditions"]:
                condition["expression"] = condition["expression"].replace(
                    f"system:serviceaccount:{MANIFEST_NS}:", f"system:serviceaccount:{system_ns}:"
                )
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
        if doc["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            for subject in doc["subjects"]:
                subject["namespace"] = system_ns
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["image"] = images["operator"]
            container["imagePullPolicy"] = "IfNotPresent"
            container["args"] = [
                f"--namespace={watch_ns}" if arg == "--all-namespaces" else arg
                for arg in container["args"]
            ]
            for var in container["env"]:
                if var["name"] in images:
                    var["value"] = images[var["name"]]
            missing = {k for k in images if k != "operator"} - {v["name"] for v in container["env"]}
            assert not missing, f"manifests/ do not set {missing} for the operator"
        out.append(doc)
    return out


def wait(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s")
        time.sleep(interval)


def leader_pod(k8s_api: ApiClient, namespace: str, lease: str) -> Any:
    """The operator pod holding the leader Lease (its identity starts with the pod name),
    once one does; the other replica's log says it stands by and started no kopf."""
    core, leases = kubeclient.core(k8s_api), kubeclient.coordination(k8s_api)

    def holder() -> str:
        try:
            found = leases.read_namespaced_lease(lease, namespace).spec.holder_identity
        except ApiException as exc:
            if exc.status == 404:
                return ""
            raise
        return str(found or "")

    name = wait(f"a replica holding Lease {lease}", holder, timeout=60).rsplit("_", 2)[0]
    pods = core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/component=operator"
    ).items
    (leader,) = [p for p in pods if p.metadata.name == name]
    for standby in (p for p in pods if p is not leader):
        log = str(core.read_namespaced_pod_log(standby.metadata.name, namespace))
        assert "standing by for Lease" in log and "Starting Kopf" not in log, log[-3000:]
    return leader


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == kind), {})


@pytest.fixture(scope="module")
def operator_image(local_cluster: Any) -> str:
    """The operator image built here (for the local cluster), or SHAKEDOWN_OPERATOR_IMAGE."""
    if local_cluster is None:
        image = os.environ.get("SHAKEDOWN_OPERATOR_IMAGE")
        if not image:
            pytest.fail(
                "KUBECONFIG is set: set SHAKEDOWN_OPERATOR_IMAGE to an operator image that "
                "cluster can pull ('shakedown cluster image operator' builds one locally)",
                pytrace=False,
            )
        return image
    from shakedown.localcluster.operator_image import build_operator_image

    started = time.monotonic()
    ref = build_operator_image(local_cluster, say=lambda _: None)
    print(f"operator image {ref.by_digest} in {time.monotonic() - started:.1f}s")
    return ref.by_digest


@pytest.mark.cluster
def test_chart_per_namespace_mode_runs_a_rollout_through_its_shadow(
    chart_helm: Path,  # noqa: F811  (the fixture imported above)
    kubeconfig: Path,
    tmp_path: Path,
    k8s_api: ApiClient,
    operator_image: str,
    builder_image: str,
    busybox_image: str,
) -> None:
    """helm install with watchNamespaces: Roles in the watched namespace only, and yet a
    whole InfraRollout (shadow namespace, HTTP check pod with the probe image, shift,
    bake) succeeds with no 403: the shadow namespace it creates is covered."""
    core, custom = kubeclient.core(k8s_api), kubeclient.custom(k8s_api)
    suffix = secrets.token_hex(3)
    release, system_ns, watch_ns = f"sdh{suffix}", f"sdh{suffix}-system", f"sdh{suffix}"
    helm_env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        **{f"HELM_{d}_HOME": str(tmp_path / d.lower()) for d in ("CACHE", "CONFIG", "DATA")},
    }
    install_crds(k8s_api)
    core.create_namespace({"metadata": {"name": watch_ns}})
    core.create_namespace(
        {
            "metadata": {
                "name": system_ns,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            }
        }
    )
    installed = False
    try:
        web_app(k8s_api, watch_ns, busybox_image)
        repository, digest = operator_image.split("@sha256:")
        result = subprocess.run(
            [
                *(str(chart_helm), "install", release, str(CHART), "-n", system_ns, "--skip-crds"),
                # repository:tag is how the chart names its image; "@sha256" + digest pins it.
                *("--set", f"image.repository={repository}@sha256,image.tag={digest}"),
                *("--set", f"watchNamespaces={{{watch_ns}}}"),
                *("--set", f"builderImage={builder_image},probeImage={busybox_image}"),
                *("--wait", "--timeout", "180s"),
            ],
            env=helm_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        installed = result.returncode == 0
        assert installed, result.stdout + result.stderr
        roles = kubeclient.rbac(k8s_api).list_role_for_all_namespaces(
            label_selector=f"app.kubernetes.io/instance={release}"
        )
        assert sorted((r.metadata.namespace, r.metadata.name) for r in roles.items) == sorted(
            [
                (watch_ns, f"{release}-shakedown"),
                (system_ns, f"{release}-shakedown-leader-election"),
                (system_ns, f"{release}-shakedown-selftest"),
            ]
        )
        # Its ServiceAccount writes in the watched namespace, and nowhere else.
        sa = kubeclient.core(service_account_api(k8s_api, system_ns, f"{release}-shakedown"))
        probe = {"metadata": {"name": "scope-probe"}}
        sa.create_namespaced_config_map(watch_ns, probe, dry_run="All")

        def kube_system_refused() -> bool:
            try:
                sa.create_namespaced_config_map("kube-system", probe, dry_run="All")
            except ApiException as exc:
                assert exc.status == 403, exc.body
                return "only in the namespaces it watches" in str(exc.body)
            return False  # a new policy takes a moment to reach admission

        wait("the scope policy refuses a write in kube-system", kube_system_refused, timeout=30)
        assert f"not in {system_ns}" in refused(
            lambda: sa.create_namespaced_config_map(system_ns, probe, dry_run="All")
        )

        create_config_rollout(k8s_api, watch_ns)

        def finished() -> dict[str, Any]:
            obj = custom.get_namespaced_custom_object(
                GROUP, VERSION, watch_ns, "infrarollouts", "config"
            )
            status = obj.get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed", "RolledBack") else {}

        status = wait("the rollout finished", finished, timeout=240, interval=1)
        pod = leader_pod(k8s_api, system_ns, f"{release}-shakedown-leader")
        log = str(core.read_namespaced_pod_log(pod.metadata.name, system_ns))
        assert status["phase"] == "Succeeded", f"{status}\n{log[-4000:]}"
        assert status["shadowNamespace"] == f"{watch_ns}-shadow-config-1"
        assert core.read_namespaced_config_map("web-config", watch_ns).data["MESSAGE"] == "v2"
        assert_no_403(log)
        assert "Traceback" not in log, log[-4000:]
        release_shakedown_objects(k8s_api, watch_ns, timeout=60)
    finally:
        release_shakedown_objects(k8s_api, watch_ns, timeout=5)
        if installed:
            subprocess.run(
                [str(chart_helm), "uninstall", release, "-n", system_ns, "--wait"],
                env=helm_env,
                capture_output=True,
                timeout=120,
                check=False,
            )
        for ns in (watch_ns, system_ns):
            with contextlib.suppress(ApiException):
                core.delete_namespace(ns)

    def namespaces_gone() -> bool:
        names = {n.metadata.name for n in core.list_namespace().items}
        return not {n for n in names if n.startswith(watch_ns)}

    wait("the namespaces deleted (shadow included)", namespaces_gone, timeout=120, interval=1)


@pytest.mark.cluster
def test_install_run_and_uninstall(
    k8s_api: ApiClient,
    registry: str,
    operator_image: str,
    builder_image: str,
    busybox_image: str,
) -> None:
    core = kubeclient.core(k8s_api)
    apps = kubeclient.apps(k8s_api)
    custom = kubeclient.custom(k8s_api)
    dyn = kubeclient.dynamic(k8s_api)
    suffix = secrets.token_hex(3)
    system_ns, watch_ns = f"sdinst-{suffix}-system", f"sdinst-{suffix}"
    docs = customized(
        manifest_docs(),
        suffix=suffix,
        system_ns=system_ns,
        watch_ns=watch_ns,
        images={
            "operator": operator_image,
            "SHAKEDOWN_BUILDER_IMAGE": builder_image,
            "SHAKEDOWN_PROBE_IMAGE": busybox_image,
        },
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    name = deployment["metadata"]["name"]
    install_crds(k8s_api)
    applied: list[dict[str, Any]] = []
    try:
        started = time.monotonic()
        for doc in docs:
            apply(dyn, doc)
            applied.append(doc)
        # Opted in to the operator's writes (manifests/15-scope-policy.yaml).
        core.create_namespace(
            {"metadata": {"name": watch_ns, "labels": {"shakedown.dev/watched": "true"}}}
        )

        def available() -> bool:
            dep = apps.read_namespaced_deployment(name, system_ns)
            conds = {c.type: c.status for c in dep.status.conditions or []}
            want = deployment["spec"]["replicas"]
            return conds.get("Available") == "True" and (dep.status.ready_replicas or 0) == want

        def pods() -> list[Any]:
            selector = "app.kubernetes.io/component=operator"
            return list(core.list_namespaced_pod(system_ns, label_selector=selector).items)

        try:
            wait("operator Deployment Available", available, timeout=180, interval=1)
        except AssertionError:
            statuses = [(p.metadata.name, p.status.container_statuses) for p in pods()]
            events = [(e.reason, e.message) for e in core.list_namespaced_event(system_ns).items]
            raise AssertionError(f"not Available: {statuses} {events}") from None
        print(f"operator Available {time.monotonic() - started:.1f}s after apply")
        pod = leader_pod(k8s_api, system_ns, "shakedown-leader")
        spec = pod.spec.containers[0]
        assert spec.image == operator_image
        assert spec.security_context.read_only_root_filesystem is True
        assert spec.security_context.run_as_non_root is True
        assert spec.security_context.capabilities.drop == ["ALL"]
        assert pod.status.container_statuses[0].restart_count == 0
        ns_labels = core.read_namespace(system_ns).metadata.labels
        assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted"
        inside = stream(
            core.connect_get_namespaced_pod_exec,
            pod.metadata.name,
            system_ns,
            command=[
                "sh",
                "-c",
                "id -u; touch /opt/shakedown/x 2>/dev/null && echo writable || echo read-only;"
                " command -v shakedown",
            ],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        assert inside.split() == ["65532", "read-only", "/opt/shakedown/bin/shakedown"], inside

        # A valid ContainerImageRefresh: a whole run, built by the builder image the
        # Deployment names, tested, and promoted.
        refreshes = Refreshes(k8s_api, watch_ns, registry)
        refreshes.config_map(
            "ctx",
            {"Containerfile": f"FROM {busybox_image}\nRUN echo built > /built\n"},
        )
        refreshes.create(
            "app",
            {
                "image": refreshes.image("app"),
                "source": {"configMap": {"name": "ctx"}},
                "tests": [{"name": "built", "command": ["cat", "/built"], "timeout": "1m"}],
            },
        )
        reconciling = wait(
            "Reconciling=True on the valid refresh",
            lambda: condition(refreshes.get("app"), "Reconciling").get("status") == "True",
            timeout=60,
            interval=0.2,
        )
        assert reconciling
        images_in_jobs = wait(
            "the build Job",
            lambda: [j.spec.template.spec.containers[0].image for j in refreshes.jobs("app")],
            timeout=60,
            interval=0.2,
        )
        assert images_in_jobs[0] == builder_image, images_in_jobs
        status = refreshes.wait_run("app", "1", timeout=300)

        def operator_log() -> str:
            return str(core.read_namespaced_pod_log(pod.metadata.name, system_ns))[-4000:]

        assert status["lastRun"]["phase"] == "Succeeded", f"{status}\n{operator_log()}"
        assert refreshes.tag_digest("app", "latest") == status["promotedDigest"]
        ready = wait(
            "Ready=True on the valid refresh",
            lambda: condition(refreshes.get("app"), "Ready").get("status") == "True",
            timeout=30,
        )
        assert ready
        obj = refreshes.get("app")
        assert condition(obj, "Stalled").get("status") != "True", obj["status"]
        assert condition(obj, "Reconciling").get("status") != "True", obj["status"]

        # A semantically invalid InfraRollout (the schema admits it): Stalled, naming
        # the field, and nothing done for it.
        create_rollout(
            k8s_api,
            watch_ns,
            "bad",
            {
                "targets": [
                    {"kind": "Deployment", "name": "web"},
                    {"kind": "ConfigMap", "name": "web-config"},
                ],
                "change": {
                    "patches": [
                        {  # a json patch is a list of operations, not an object
                            "target": {"kind": "ConfigMap", "name": "web-config"},
                            "type": "json",
                            "patch": {"data": {"A": "b"}},
                        }
                    ]
                },
            },
        )

        def stalled() -> dict[str, Any]:
            obj = custom.get_namespaced_custom_object(
                GROUP, VERSION, watch_ns, "infrarollouts", "bad"
            )
            return obj if condition(obj, "Stalled").get("status") == "True" else {}

        bad = wait("Stalled=True on the invalid rollout", stalled, timeout=60)
        message = condition(bad, "Stalled")["message"]
        assert message.startswith("spec.change.patches[0].patch"), message
        assert condition(bad, "Stalled")["reason"] == "InvalidSpec"
        assert condition(bad, "Ready").get("status") == "False", bad["status"]
        shadows = [
            n.metadata.name
            for n in core.list_namespace().items
            if n.metadata.name.startswith(f"{watch_ns}-shadow-")
        ]
        assert shadows == [], "a shadow namespace for an invalid rollout"
        log = str(core.read_namespaced_pod_log(pod.metadata.name, system_ns))
        assert "Traceback" not in log, log[-4000:]
        assert_no_403(log)

        # Uninstall: custom resources first, finalized by the running operator.
        release_shakedown_objects(k8s_api, watch_ns, timeout=60)
        gone = (
            custom.list_namespaced_custom_object(
                GROUP, VERSION, watch_ns, "containerimagerefreshes"
            )["items"]
            + custom.list_namespaced_custom_object(GROUP, VERSION, watch_ns, "infrarollouts")[
                "items"
            ]
        )
        assert gone == [], "the operator did not finalize its objects"
    finally:
        release_shakedown_objects(k8s_api, watch_ns, timeout=5)
        for doc in reversed(applied):
            delete(dyn, doc)
        for ns in (watch_ns, system_ns):
            try:
                core.delete_namespace(ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def namespaces_gone() -> bool:
        names = {n.metadata.name for n in core.list_namespace().items}
        return not names & {watch_ns, system_ns}

    wait("both namespaces deleted", namespaces_gone, timeout=120, interval=1)
    for doc in applied:
        if "namespace" not in doc["metadata"] and doc["kind"] != "Namespace":
            resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            with pytest.raises(ApiException) as missing:
                resource.get(name=doc["metadata"]["name"])
            assert missing.value.status == 404
