"""``helm upgrade`` from the previous chart, with a rollout and a refresh in flight.

The previous chart is charts/shakedown as it was at PREVIOUS (git archive). It is
installed (watching one namespace, with the operator image built from
images/operator/Containerfile); an InfraRollout is made to bake and a
ContainerImageRefresh to run a slow test; then the chart of this checkout is
upgraded over it with a new image reference, so the operator pod is replaced.

What a user checks afterwards: the upgrade ran the CRD hook (a printer column
taken out of the CRD before, as an older CRD would lack it, is back); the
operator runs the new image; the rollout finished as revision 1 with one
shadow namespace and one history entry; the refresh's run 1 succeeded with one
build Job and one test Job, and no run 2 began. Nothing was lost, nothing ran
twice.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiClient, ApiException
from tests.cluster.test_chart import helm as chart_helm  # noqa: F401  (fixture)
from tests.cluster.test_in_cluster_install import (
    operator_image,  # noqa: F401  (fixture)
    wait,
)
from tests.fixtures.imagerefresh import JobCounter, Refreshes
from tests.fixtures.install import assert_no_403, create_config_rollout, web_app
from tests.fixtures.operator import install_crds, release_shakedown_objects

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"
#: The commit whose chart is "the previous version" (main before the upgrade path).
PREVIOUS = "ac4fb1a"
CRD = "infrarollouts.shakedown.dev"
IN_FLIGHT_ROLLOUT = ("SmokeTesting", "Shifting", "Baking")
IN_FLIGHT_RUN = ("Building", "Testing")


@pytest.fixture(scope="module")
def previous_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("previous-chart")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", PREVIOUS, "charts/shakedown"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, timeout=60, check=True)
    return out / "charts" / "shakedown"


@pytest.fixture(scope="module")
def upgraded_image(local_cluster: Any, operator_image: str) -> str:  # noqa: F811
    """The same operator under another reference: the upgrade changes the pod template.

    Tag and digest (``…:chart-upgrade@sha256:…``): the chart pulls IfNotPresent,
    and on a cluster kept between runs a bare tag would start the image an
    earlier run left under it.
    """
    if local_cluster is None:
        pytest.fail("the upgrade test builds a second image tag: run it on the local cluster")
    from shakedown.localcluster.operator_image import build_operator_image

    ref = build_operator_image(local_cluster, tag="chart-upgrade", say=lambda _: None)
    assert ref.by_digest == operator_image
    return f"{ref.ref}@{ref.by_digest.split('@', 1)[1]}"


def printer_columns(k8s_api: ApiClient) -> list[str]:
    crd = kubeclient.apiextensions(k8s_api).read_custom_resource_definition(CRD)
    return [c.name for c in crd.spec.versions[0].additional_printer_columns or []]


def drop_last_printer_column(k8s_api: ApiClient) -> str:
    """Make the CRD look older: one printer column fewer (harmless to other sessions)."""
    columns = printer_columns(k8s_api)
    kubeclient.apiextensions(k8s_api).patch_custom_resource_definition(
        CRD,
        [{"op": "remove", "path": f"/spec/versions/0/additionalPrinterColumns/{len(columns) - 1}"}],
    )
    return columns[-1]


def grant_todays_verbs(k8s_api: ApiClient, release: str, system_ns: str, watch_ns: str) -> None:
    """What today's operator needs beyond the previous chart's RBAC: ``patch`` on targets.

    The previous release runs today's image (its own is not rebuilt here), and
    today's operator writes production by server-side apply and previews
    strategic patches by dry run, both PATCH requests the previous chart did
    not grant. A real upgrade runs the previous image under the previous chart.
    """
    rbac = kubeclient.rbac(k8s_api)
    name = f"{release}-todays-verbs"
    rbac.create_cluster_role(
        {
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "statefulsets", "daemonsets"],
                    "verbs": ["patch"],
                },
                {
                    "apiGroups": [""],
                    "resources": [
                        "services",
                        "configmaps",
                        "secrets",
                        "resourcequotas",
                        "limitranges",
                    ],
                    "verbs": ["patch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": ["patch"],
                },
            ],
        }
    )
    # Cluster-wide like the chart's shadow rules: the shadows do not exist yet,
    # and the previous chart's scope policy still confines every write.
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": f"{release}-shakedown", "namespace": system_ns}
            ],
        },
    )


def test_upgrade_from_the_previous_chart_keeps_work_in_flight(
    chart_helm: Path,  # noqa: F811
    previous_chart: Path,
    upgraded_image: str,
    operator_image: str,  # noqa: F811
    kubeconfig: Path,
    tmp_path: Path,
    k8s_api: ApiClient,
    registry: str,
    builder_image: str,
    busybox_image: str,
) -> None:
    core, custom = kubeclient.core(k8s_api), kubeclient.custom(k8s_api)
    suffix = secrets.token_hex(3)
    release, system_ns, watch_ns = f"sdup{suffix}", f"sdup{suffix}-system", f"sdup{suffix}"
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        **{f"HELM_{d}_HOME": str(tmp_path / d.lower()) for d in ("CACHE", "CONFIG", "DATA")},
    }

    def helm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(chart_helm), *args, "-n", system_ns],
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )

    def image_values(image: str) -> list[str]:
        repository, tag = image.rsplit("@sha256:", 1) if "@" in image else image.rsplit(":", 1)
        repository += "@sha256" if "@" in image else ""
        return ["--set", f"image.repository={repository},image.tag={tag}"]

    def values(image: str) -> list[str]:
        return [
            *image_values(image),
            *("--set", f"watchNamespaces={{{watch_ns}}}"),
            *("--set", f"builderImage={builder_image},probeImage={busybox_image}"),
            *("--wait", "--timeout", "300s"),
        ]

    def operator_pods() -> list[Any]:
        selector = "app.kubernetes.io/component=operator"
        return list(core.list_namespaced_pod(system_ns, label_selector=selector).items)

    def rollout() -> dict[str, Any]:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, watch_ns, "infrarollouts", "config"
        )
        return dict(obj.get("status") or {})

    install_crds(k8s_api)
    core.create_namespace({"metadata": {"name": watch_ns}})
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.create_namespace({"metadata": {"name": system_ns, "labels": restricted}})
    installed = False
    jobs = JobCounter(k8s_api, watch_ns)  # Jobs are deleted after a run: count creations
    try:
        result = helm(
            "install", release, str(previous_chart), "--skip-crds", *values(operator_image)
        )
        installed = result.returncode == 0
        assert installed, result.stdout + result.stderr
        grant_todays_verbs(k8s_api, release, system_ns, watch_ns)
        web_app(k8s_api, watch_ns, busybox_image)
        refreshes = Refreshes(k8s_api, watch_ns, registry)
        refreshes.config_map("ctx", {"Containerfile": f"FROM {busybox_image}\nRUN echo b > /b\n"})
        refreshes.create(
            "app",
            {
                "image": refreshes.image("app"),
                "source": {"configMap": {"name": "ctx"}},
                "tests": [{"name": "slow", "command": ["sh", "-c", "sleep 150; cat /b"]}],
            },
        )
        # A long bake, so the upgrade lands while it runs.
        create_config_rollout(k8s_api, watch_ns, bake="60s", timeout="8m")

        def both_in_flight() -> bool:
            run = refreshes.status("app").get("currentRun") or {}
            return rollout().get("phase") in IN_FLIGHT_ROLLOUT and run.get("phase") in (
                IN_FLIGHT_RUN
            )

        wait("the rollout and the refresh in flight", both_in_flight, timeout=240, interval=1)
        (old_pod,) = operator_pods()
        dropped = drop_last_printer_column(k8s_api)
        assert dropped not in printer_columns(k8s_api)

        # --reuse-values, the harshest way: the previous release's values, which lack
        # the keys this chart added (replicas, crds, podDisruptionBudget).
        started = time.monotonic()
        result = helm(
            "upgrade",
            release,
            str(CHART),
            "--reuse-values",
            *image_values(upgraded_image),
            *("--wait", "--timeout", "300s"),
        )
        print(f"helm upgrade (CRD hook, new operator Available) {time.monotonic() - started:.1f}s")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "The CRDs were upgraded by the pre-upgrade hook" in result.stdout, result.stdout

        # The CRDs: upgraded by the hook, whose Job completed and was then deleted
        # with its ServiceAccount (hook-succeeded).
        assert dropped in printer_columns(k8s_api)
        hook = f"{release}-shakedown-crds"
        reasons = {
            e.reason
            for e in core.list_namespaced_event(
                system_ns, field_selector=f"involvedObject.kind=Job,involvedObject.name={hook}"
            ).items
        }
        assert "Completed" in reasons, reasons
        assert not kubeclient.batch(k8s_api).list_namespaced_job(system_ns).items
        assert hook not in {
            a.metadata.name for a in core.list_namespaced_service_account(system_ns).items
        }
        # The operator: the new image, the old pod gone.
        (pod,) = wait(
            "one operator pod, the new one",
            lambda: (
                [p for p in operator_pods() if p.metadata.name != old_pod.metadata.name]
                if len(operator_pods()) == 1
                else []
            ),
            timeout=120,
        )
        assert pod.spec.containers[0].image == upgraded_image
        history = helm("history", release, "-o", "yaml")
        assert "chart: shakedown-0.2.0" in history.stdout, history.stdout

        # The rollout continues where it was: one revision, one shadow, no repeat.
        status = wait(
            "the rollout finished",
            lambda: (s := rollout()).get("phase") in ("Succeeded", "Failed", "RolledBack") and s,
            timeout=300,
            interval=1,
        )
        log = str(core.read_namespaced_pod_log(pod.metadata.name, system_ns))
        assert status["phase"] == "Succeeded", f"{status}\n{log[-4000:]}"
        assert status["revision"] == 1, status
        assert [h["revision"] for h in status["history"]] == [1], status["history"]
        assert status["shadowNamespace"] == f"{watch_ns}-shadow-config-1"
        assert core.read_namespaced_config_map("web-config", watch_ns).data["MESSAGE"] == "v2"
        shadows = [
            n.metadata.name
            for n in core.list_namespace().items
            if n.metadata.name.startswith(f"{watch_ns}-shadow-")
        ]
        assert set(shadows) <= {f"{watch_ns}-shadow-config-1"}, shadows

        # The refresh: run 1 succeeded, built once and tested once, and no run 2.
        run_status = refreshes.wait_run("app", "1", timeout=300)
        assert run_status["lastRun"]["phase"] == "Succeeded", f"{run_status}\n{log[-4000:]}"
        assert (run_status.get("currentRun") or {}).get("id") in (None, "1"), run_status
        assert len(jobs.names()) == 2, jobs.names()  # one build Job, one test Job
        assert refreshes.tag_digest("app", "latest") == run_status["promotedDigest"]
        assert_no_403(log)
        assert "Traceback" not in log, log[-4000:]
        release_shakedown_objects(k8s_api, watch_ns, timeout=60)
    finally:
        jobs.stop()
        install_crds(k8s_api)  # the printer column back, whatever happened
        release_shakedown_objects(k8s_api, watch_ns, timeout=5)
        if installed:
            helm("uninstall", release, "--wait")
        with contextlib.suppress(ApiException):
            kubeclient.rbac(k8s_api).delete_cluster_role_binding(f"{release}-todays-verbs")
        with contextlib.suppress(ApiException):
            kubeclient.rbac(k8s_api).delete_cluster_role(f"{release}-todays-verbs")
        for ns in (watch_ns, system_ns):
            with contextlib.suppress(ApiException):
                core.delete_namespace(ns)

    def namespaces_gone() -> bool:
        names = {n.metadata.name for n in core.list_namespace().items}
        return not {n for n in names if n.startswith(watch_ns)}

    wait("the namespaces deleted (shadow included)", namespaces_gone, timeout=120, interval=1)
