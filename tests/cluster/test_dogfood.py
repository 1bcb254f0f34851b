"""shakedown upgrades itself the way it upgrades anything (the dogfooding scene).

The operator is installed from manifests/ with the image built from
images/operator/Containerfile (tests/fixtures/dogfood.py says what differs for
a self-hosted operator). Then, with no person involved:

1. a ContainerImageRefresh builds the operator image in the cluster from the
   project's Git repository (a commit of this checkout's tracked files), runs
   a subset of the unit tier inside the candidate, and promotes it;
2. an InfraRollout with ``imageFrom`` rolls the operator's own Deployment to
   it: shadow, a canary replica beside an old one (which keeps the Lease and
   runs the rollout), then both replicas, a bake; it is run by the operator it
   replaces, and finished by the new one after the Lease changes hands;
3. a deliberately broken commit (a standby that crashes once it can read the
   Lease: its unit tests and its shadow pass) is built, tested, promoted, and
   rolled back from its canary, while an old replica keeps leading;
4. a second broken commit, one that passes readiness but reconciles nothing
   (its watch events start no runner), passes its unit tests, its shadow and
   its canary's readiness; the rollout's production check ``shakedown
   selftest`` (``rollback.jobs``: the candidate image runs the operator
   in-process on a probe object) fails, and it is rolled back from its canary,
   the old replica leading throughout. The good build of step 2 passes the
   same check.

Meanwhile another application's canary rollout, paused in flight before the
operator is replaced, is promoted at the end and completes. ``make dogfood``
runs this test with its progress printed.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiClient
from shakedown.demo.infrarollout import config_change, sample_targets
from tests.cluster.test_in_cluster_install import (
    operator_image,  # noqa: F401  (fixture)
)
from tests.fixtures.dogfood import (
    SABOTAGE_FILE,
    STALL,
    STALL_ANCHOR,
    STALL_FILE,
    Installed,
    Scene,
    install,
    own_crds_kept,
    push_project,
    rollout_spec,
    sabotaged,
    start_dogfooding,
    uninstall,
    write,
)
from tests.fixtures.gitserver import GitServer
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.install import create_rollout, web_app

pytestmark = pytest.mark.cluster

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[dogfood {time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


@pytest.fixture(scope="module")
def dependencies_image(local_cluster: Any) -> Any:
    """The in-cluster build's BASE: the operator's venv with pip, setuptools and pytest."""
    if local_cluster is None:
        pytest.fail("the dogfooding scene builds its base image: run it on the local cluster")
    from shakedown.localcluster.dogfood_image import build_dependencies_image

    return build_dependencies_image(local_cluster, say=say)


def app_canary(k8s_api: ApiClient, namespace: str) -> None:
    """Another application's rollout: a canary that pauses until promoted."""
    create_rollout(
        k8s_api,
        namespace,
        "config",
        {
            "targets": sample_targets("web"),
            "change": config_change("web", {"MESSAGE": "v2"}),
            "smokeTests": {"readyFor": "3s"},
            "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"pause": "1h"}]}},
            "bake": "5s",
            "timeout": "1h",
        },
    )


@pytest.mark.timeout(3600)  # two in-cluster builds of the operator on 2 shared cores
def test_shakedown_rolls_itself_out_and_rolls_back_a_broken_build(
    k8s_api: ApiClient,
    kubeconfig: Path,
    registry: str,
    git_server: GitServer,
    operator_image: str,  # noqa: F811
    dependencies_image: Any,
    builder_image: str,
    busybox_image: str,
) -> None:
    from shakedown.localcluster.dogfood_image import in_cluster_build_args, tracked_files

    core = kubeclient.core(k8s_api)
    suffix = secrets.token_hex(3)
    images = {
        "operator": operator_image,
        "SHAKEDOWN_BUILDER_IMAGE": builder_image,
        "SHAKEDOWN_PROBE_IMAGE": busybox_image,
    }
    installed = Installed(f"sdfood-{suffix}-system", f"sdfood-{suffix}")
    system_ns, app_ns = installed.system_ns, installed.app_ns
    scene = Scene(k8s_api, system_ns, say)
    apps = Scene(k8s_api, app_ns, say)
    keeping = contextlib.ExitStack()
    try:
        rollback = rollout_spec("operator")["rollback"]
        keep = lambda: scene.keep_rollback("operator", rollback)  # noqa: E731
        keeping.enter_context(own_crds_kept(k8s_api, say, repair=keep))
        say(f"installing the operator from manifests/ into {system_ns} ({operator_image})")
        install(k8s_api, installed, images)
        scene.settled_on(operator_image)
        first_leader = scene.leader_pod().metadata.name
        say(f"two operator replicas Ready; {first_leader} leads")

        say("another application's canary rollout, paused in flight")
        web_app(k8s_api, app_ns, busybox_image)
        app_canary(k8s_api, app_ns)
        apps.wait(
            "the application's canary paused",
            lambda: (
                apps.rollout("config").get("phase") == "Shifting"
                and apps.rollout("config").get("currentStep") == 1
            ),
            240,
        )

        repo = push_project(git_server, f"{system_ns}-shakedown", tracked_files())
        good = repo.head()
        say(f"the project's tracked files committed as {good[:12]} to {repo.url}")
        build_args = in_cluster_build_args(dependencies_image)
        refreshes = start_dogfooding(k8s_api, registry, system_ns, repo.url, build_args)
        image = refreshes.image("operator")

        # 1. Built in the cluster from Git, the unit tier run in the candidate, promoted.
        committed = time.monotonic()
        status = refreshes.wait_run("operator", "1", timeout=1500)
        run1 = status["lastRun"]
        assert run1["phase"] == "Succeeded", run1
        assert run1["sourceRevision"] == good
        digest1 = status["promotedDigest"]
        say(f"run 1 promoted {digest1[:19]} ({time.monotonic() - committed:.0f}s after commit)")

        # 2. The operator's own Deployment rolled to it by the operator it replaces.
        final = scene.wait_rollout("operator", 1, timeout=900)
        assert final["phase"] == "Succeeded", (final.get("rollbackReason"), final.get("checks"))
        new_image = f"{image}@{digest1}"
        assert final["resolvedImages"] == [{"container": "operator", "image": new_image}]
        assert scene.deployment_image() == new_image
        scene.settled_on(new_image)
        leader = scene.leader_pod()
        assert leader.spec.containers[0].image == new_image
        say(
            f"the operator runs {digest1[:19]} ({time.monotonic() - committed:.0f}s after the "
            f"commit); {leader.metadata.name} leads"
        )
        checks = {c["name"]: c for c in final["checks"]}
        selftest = checks["production-selftest"]
        assert selftest["phase"] == "Passed", selftest
        say(f"the good build passed its production check: {selftest['message']}")

        # 3. A broken build: its tests and its shadow pass; its canary crashes in production.
        good_source = (repo.work / SABOTAGE_FILE).read_text()
        broken_source = sabotaged(good_source)
        write(repo, {SABOTAGE_FILE: broken_source.encode()})
        broken = repo.commit({}, "a standby that crashes when it reads the Lease")
        say(f"a broken commit {broken[:12]}")
        status = refreshes.wait_run("operator", "2", timeout=1500)
        run2 = status["lastRun"]
        assert (run2["phase"], run2["sourceRevision"]) == ("Succeeded", broken), run2
        digest2 = status["promotedDigest"]
        assert digest2 != digest1
        say(f"run 2 promoted the broken {digest2[:19]} (its tests do not catch it)")
        final = scene.wait_rollout("operator", 2, timeout=900)
        assert final["phase"] == "RolledBack", (final.get("rollbackReason"), final.get("checks"))
        assert scene.deployment_image() == new_image
        scene.settled_on(new_image)
        assert scene.leader_pod().spec.containers[0].image == new_image
        canaries = [
            p for p in scene.operator_pods() if p.spec.containers[0].image == f"{image}@{digest2}"
        ]
        assert canaries == []
        say(f"revision 2 rolled back ({final.get('message') or final.get('failureReason')})")

        # 4. A build that passes readiness and reconciles nothing: the selftest Job catches it.
        stalled_source = sabotaged((repo.work / STALL_FILE).read_text(), STALL_ANCHOR, STALL)
        write(repo, {SABOTAGE_FILE: good_source.encode(), STALL_FILE: stalled_source.encode()})
        stalled = repo.commit({}, "an operator that starts no runner: it reconciles nothing")
        say(f"a commit that reconciles nothing {stalled[:12]}")
        stall_started = time.monotonic()
        status = refreshes.wait_run("operator", "3", timeout=1500)
        run3 = status["lastRun"]
        assert (run3["phase"], run3["sourceRevision"]) == ("Succeeded", stalled), run3
        digest3 = status["promotedDigest"]
        assert digest3 not in (digest1, digest2)
        say(f"run 3 promoted {digest3[:19]} (its tests pass)")
        final = scene.wait_rollout("operator", 3, timeout=900)
        assert final["phase"] == "RolledBack", (final.get("rollbackReason"), final.get("checks"))
        reason = final["rollbackReason"]
        assert reason.startswith("JobCheckFailed: production-selftest: Job "), reason
        assert "did not reconcile the probe" in reason, reason
        assert scene.deployment_image() == new_image
        scene.settled_on(new_image)
        assert scene.leader_pod().spec.containers[0].image == new_image
        say(
            f"revision 3 rolled back by its selftest ({time.monotonic() - stall_started:.0f}s "
            f"after the commit): {reason[:160]}"
        )

        # 5. The other application's rollout, in flight all along, completes.
        promoted = Refreshes(k8s_api, app_ns, registry, kubeconfig).cli(
            "promote", "iro", "config", "-n", app_ns
        )
        assert promoted.returncode == 0, promoted.stderr
        done = apps.wait_rollout("config", 1, timeout=300)
        assert done["phase"] == "Succeeded", done
        assert core.read_namespaced_config_map("web-config", app_ns).data["MESSAGE"] == "v2"
        say("the application's canary, in flight throughout, completed")
    finally:
        uninstall(k8s_api, installed)
        keeping.close()

    def namespaces_gone() -> bool:
        names = {n.metadata.name for n in core.list_namespace().items}
        return not {n for n in names if n.startswith(f"sdfood-{suffix}")}

    scene.wait("the scene's namespaces deleted (shadows included)", namespaces_gone, 180)
