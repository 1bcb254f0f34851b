"""``make demo`` plays its scenes against the cluster and reports a timeline."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from shakedown.adapters import kubeclient
from tests.fixtures.operator import release_shakedown_objects

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def demo_namespace(k8s_api: ApiClient) -> Iterator[str]:
    """A fresh namespace name for a scene; its shakedown objects and itself removed after."""
    namespace = f"sddemo-{secrets.token_hex(3)}"
    try:
        yield namespace
    finally:
        release_shakedown_objects(k8s_api, namespace, timeout=5)
        try:
            kubeclient.core(k8s_api).delete_namespace(namespace)
        except client.exceptions.ApiException as exc:
            if exc.status != 404:
                raise


def run_scene(
    scene: str, namespace: str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -m shakedown.demo --scene SCENE --namespace NAMESPACE``, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "shakedown.demo", "--scene", scene, "--namespace", namespace],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_basics_scene(kubeconfig: Path, k8s_api: ApiClient, crds: list[str]) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    with demo_namespace(k8s_api) as namespace:
        result = run_scene("basics", namespace, env, timeout=300)
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert "accepted by the API server (dry run)" in out
        assert "refused by the API server" in out and "spec.tests[0].timeout" in out
        assert "cir/basics-nightly: Stalled (InvalidSpec): spec.schedule" in out
        assert "schedule fixed -> Stalled=False" in out
        assert "Timeline of shakedown's Events" in out and "InvalidSpec" in out.split("Timeline")[1]
        assert (
            "$ shakedown get cir" in out and "basics-nightly" in out.split("$ shakedown get cir")[1]
        )
        # The operator the demo started is gone again.
        pid = int(out.split("operator started (pid ")[1].split(",")[0])
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
