"""``make demo``'s ContainerImageRefresh scene: one promotion, one run held back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests.cluster.test_demo import demo_namespace, run_scene

pytestmark = pytest.mark.cluster


def test_demo_imagerefresh_scene(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], registry: str, builder_image: str
) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "REGISTRY": registry}
    with demo_namespace(k8s_api) as namespace:
        result = run_scene("imagerefresh", namespace, env, timeout=400)
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
