"""Kill the operator in every phase of a run: the run completes once.

The test runs its own operator process on a namespace no other operator
watches, SIGKILLs it while the build runs, again while the tests run, and
leaves it dead until the tests finished, so the next process starts right at
promotion. A watch counts every Job ever created; the image lives in the
test's own password-protected registry, whose access log shows every manifest
PUT (the candidate push and each tag move).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from shakedown.adapters import kubeclient
from tests.fixtures.imagerefresh import JobCounter, PrivateRegistry, Refreshes
from tests.fixtures.operator import release_shakedown_objects, running_operator

pytestmark = pytest.mark.cluster


@pytest.fixture
def lone_namespace(k8s_api: ApiClient, crds: list[str]) -> Iterator[str]:
    """A namespace outside the session operator's glob (``sd<hex>-*``)."""
    core = kubeclient.core(k8s_api)
    name = f"sdkill-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(name).items:
            break
        time.sleep(0.2)
    try:
        yield name
    finally:
        release_shakedown_objects(k8s_api, name, timeout=5)
        core.delete_namespace(name, propagation_policy="Background")


def creds_secret(k8s_api: ApiClient, namespace: str, priv: PrivateRegistry) -> None:
    """The Secret ``creds`` (dockerconfigjson) the refreshes push to the private registry with."""
    kubeclient.core(k8s_api).create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "creds"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": priv.dockerconfigjson()},
        },
    )


def test_operator_killed_during_build_tests_and_before_promotion(
    k8s_api: ApiClient,
    kubeconfig: Path,
    registry: str,
    builder_image: str,
    lone_namespace: str,
    private_registry: PrivateRegistry,
    tmp_path: Path,
) -> None:
    r = Refreshes(k8s_api, lone_namespace, registry)
    priv = private_registry
    repo = f"{lone_namespace}/app"
    counter = JobCounter(k8s_api, lone_namespace)
    try:
        creds_secret(k8s_api, lone_namespace, priv)
        r.config_map(
            "ctx",
            {
                "Containerfile": f"FROM {registry}/shakedown/busybox:latest\n"
                "RUN echo built > /built\n"
            },
        )
        slow = ["/bin/sh", "-c", "echo testing; sleep 8; cat /built"]
        r.create(
            "app",
            {
                "image": f"{priv.address}/{repo}",
                "pushSecretRef": {"name": "creds"},
                "source": {"configMap": {"name": "ctx"}},
                "tests": [
                    {"name": "one", "command": slow, "timeout": "2m"},
                    {"name": "two", "command": slow, "timeout": "2m"},
                ],
            },
        )

        def phase() -> str:
            return str((r.status("app").get("currentRun") or {}).get("phase", ""))

        def job_done(name: str) -> bool:
            return any(
                j.metadata.name == name and (j.status.succeeded or 0) > 0 for j in r.jobs("app")
            )

        # 1. Killed while the build Job runs; the build finishes meanwhile.
        with running_operator(kubeconfig, lone_namespace, tmp_path / "op1.log") as op:
            r.wait_for("build Job", lambda: phase() == "Building" and r.jobs("app"), 60)
            os.kill(op.pid, signal.SIGKILL)
        r.wait_for("build done while down", lambda: job_done("app-1-build"), 120)

        # 2. Killed while the scenarios run.
        with running_operator(kubeconfig, lone_namespace, tmp_path / "op2.log") as op:
            r.wait_for(
                "test Jobs",
                lambda: phase() == "Testing" and len(r.jobs("app")) == 3,
                60,
            )
            os.kill(op.pid, signal.SIGKILL)
        # 3. Both scenarios pass while it is down: the next process starts at promotion.
        r.wait_for(
            "tests done while down",
            lambda: job_done("app-1-test-one") and job_done("app-1-test-two"),
            120,
        )
        assert phase() == "Testing"
        assert priv.client().resolve(repo, "latest") is None

        with running_operator(kubeconfig, lone_namespace, tmp_path / "op3.log"):
            status = r.wait_run("app", "1", timeout=60)
            r.wait_for("no Jobs or pods left", lambda: not r.jobs("app") and not r.pods("app"), 30)

        run = status["lastRun"]
        assert run["phase"] == "Succeeded", run
        digest = run["candidateDigest"]
        assert priv.client().resolve(repo, "latest") == digest
        # Exactly one build, one Job per scenario, one candidate push, one tag move.
        assert counter.names() == ["app-1-build", "app-1-test-one", "app-1-test-two"]
        assert priv.manifest_puts(repo) == [f"shakedown-{lone_namespace}-app-run-1", "latest"]
        promoted = [e for e in r.events("app") if e.reason == "Promoted"]
        assert sum(e.count or 1 for e in promoted) == 1
        assert [h["digest"] for h in status["history"]] == [digest]
        assert "currentRun" not in status
    finally:
        counter.stop()


def test_registry_down_at_promotion_then_operator_killed_while_promoting(
    k8s_api: ApiClient,
    kubeconfig: Path,
    registry: str,
    builder_image: str,
    lone_namespace: str,
    private_registry: PrivateRegistry,
    tmp_path: Path,
) -> None:
    r = Refreshes(k8s_api, lone_namespace, registry)
    priv = private_registry
    repo = f"{lone_namespace}/app"
    creds_secret(k8s_api, lone_namespace, priv)
    r.config_map("ctx", {"Containerfile": f"FROM {registry}/shakedown/busybox:latest\n"})
    r.create(
        "app",
        {
            "image": f"{priv.address}/{repo}",
            "pushSecretRef": {"name": "creds"},
            "source": {"configMap": {"name": "ctx"}},
            "tests": [{"name": "slow", "command": ["/bin/sh", "-c", "sleep 6"], "timeout": "1m"}],
        },
    )

    def current() -> dict[str, Any]:
        return dict(r.status("app").get("currentRun") or {})

    try:
        with running_operator(kubeconfig, lone_namespace, tmp_path / "op1.log") as op:
            r.wait_for("Testing", lambda: current().get("phase") == "Testing", 90)
            r.wait_for(
                "the scenario's container running (its image pulled)",
                lambda: [
                    p
                    for p in r.pods("app")
                    if "test" in p.metadata.name and p.status.phase == "Running"
                ],
                60,
            )
            priv.stop()  # the registry goes away before the tag can move
            r.wait_for("Promoting", lambda: current().get("phase") == "Promoting", 60)
            r.wait_for(
                "a Warning about the registry",
                lambda: [
                    e
                    for e in r.events("app")
                    if e.type == "Warning" and priv.address in (e.message or "")
                ],
                30,
            )
            os.kill(op.pid, signal.SIGKILL)  # and the operator dies while promoting
        assert current().get("phase") == "Promoting"
        assert "promotedDigest" not in r.status("app")
    finally:
        priv.start()
    with running_operator(kubeconfig, lone_namespace, tmp_path / "op2.log"):
        status = r.wait_run("app", "1", timeout=60)
    run = status["lastRun"]
    assert run["phase"] == "Succeeded", run
    assert priv.client().resolve(repo, "latest") == run["candidateDigest"]
    assert priv.manifest_puts(repo) == [f"shakedown-{lone_namespace}-app-run-1", "latest"]
