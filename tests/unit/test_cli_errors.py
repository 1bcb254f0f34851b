"""Every command against an unreachable API server: one line, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shakedown.cli.kube import describe_api_error

SHAKEDOWN = Path(sys.executable).with_name("shakedown")
DEAD = """apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
  name: dead
contexts:
- context: {cluster: dead, user: u, namespace: prod}
  name: dead
current-context: dead
users:
- name: u
  user: {token: x}
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "iro"],
        ["get", "cir", "app", "--watch"],
        ["trigger", "cir", "app"],
        ["undo", "iro", "web", "--to-revision", "1"],
        ["resume", "cir", "app"],
        ["logs", "iro", "web", "--check", "smoke"],
    ],
)
def test_an_unreachable_cluster_is_one_line(argv: list[str], tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD)
    done = subprocess.run(
        [str(SHAKEDOWN), *argv],
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("shakedown: cannot reach the cluster at https://127.0.0.1:1 (")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, 'infrarollout "web" not found in namespace prod'),
        (403, 'forbidden: infrarollout "web" (Forbidden)'),
        (401, "unauthorized: check the credentials in your kubeconfig (Forbidden)"),
        (500, 'infrarollout "web": 500 Forbidden'),
    ],
)
def test_api_errors_read_as_one_line(status: int, expected: str) -> None:
    assert (
        describe_api_error(status, "Forbidden", what='infrarollout "web"', namespace="prod")
        == expected
    )
