"""``make demo``'s ContainerImageRefresh scene: one promotion, one run held back."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from tests.fixtures.operator import release_shakedown_objects

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]


def test_demo_imagerefresh_scene(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], registry: str, builder_image: str
) -> None:
    namespace = f"sddemo-{secrets.token_hex(3)}"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "REGISTRY": registry}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "shakedown.demo",
                "--scene",
                "imagerefresh",
                "--namespace",
                namespace,
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=400,
        )
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert "run 1: Building" in out and "run 1: Testing" in out
        assert "run 1: Succeeded - promoted" in out
        assert "run 2: Failed - 1 of 2 scenario(s) failed: suite (exit code 1)" in out
        assert "| FAIL: test_parser (expected 2, got 3)" in out
        assert "(unchanged)" in out and "MOVED" not in out
        timeline = out.split("Timeline")[1]
        for reason in ("RunStarted", "Building", "Built", "Testing", "Promoted", "RunFailed"):
            assert reason in timeline, reason
    finally:
        release_shakedown_objects(k8s_api, namespace, timeout=5)
        try:
            client.CoreV1Api(k8s_api).delete_namespace(namespace)
        except client.exceptions.ApiException as exc:
            if exc.status != 404:
                raise
