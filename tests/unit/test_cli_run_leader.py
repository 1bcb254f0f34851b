"""``shakedown run --leader-election``: bad flags are one line naming the flag."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shakedown.cli import run

SHAKEDOWN = Path(sys.executable).with_name("shakedown")


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


def shakedown_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "KUBECONFIG": str(unreachable_kubeconfig(tmp_path)),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [str(SHAKEDOWN), "run", "--metrics-port", "0", "--leader-election", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_lease_name_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    result = shakedown_run(tmp_path, "--leader-election-name", "Not_A_Name")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("shakedown: --leader-election-name 'Not_A_Name'")
    assert result.stderr.count("\n") == 1


def test_a_busy_liveness_port_while_standing_by_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        url = f"http://127.0.0.1:{port}/healthz"
        result = shakedown_run(tmp_path, "--liveness", url)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"shakedown: --liveness {url}: cannot listen")
    assert result.stderr.count("\n") == 1


def test_the_lease_lives_in_the_pods_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert run._own_namespace() == "ops"
    monkeypatch.delenv("POD_NAMESPACE")
    token_dir = tmp_path / "namespace"
    token_dir.write_text("shakedown-system\n")
    monkeypatch.setattr(run, "SERVICE_ACCOUNT_NAMESPACE", token_dir)
    assert run._own_namespace() == "shakedown-system"
    monkeypatch.setattr(run, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "absent")
    assert run._own_namespace() == "default"
