"""Faults of the local cluster give one line that says what to do, never a traceback.

A port in use, a crashed earlier run, a state directory that is not the one
owning the network, a Debian package apt cannot install, and a Go module that
cannot be downloaded. Cluster starts happen in a private network namespace
(the ``private_cluster`` fixture) so the shared cluster is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from shakedown.localcluster import packages
from shakedown.localcluster.errors import ClusterError
from tests.fixtures.cluster import PrivateCluster

pytestmark = pytest.mark.cluster


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed ``shakedown`` run; fails on a traceback or a wrong code."""
    assert proc.returncode == 2, f"exit code {proc.returncode}: {proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("shakedown: "), lines[0]
    return lines[0]


def test_port_in_use_is_reported_and_nothing_is_left(private_cluster: PrivateCluster) -> None:
    private = private_cluster
    blocker = subprocess.Popen(
        ["nsenter", f"--net={private.netns}", "python3", "-c",
         "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 2379)); s.listen(); "
         "time.sleep(600)"],
    )  # fmt: skip
    try:
        time.sleep(0.5)
        line = one_line_error(private.shakedown("cluster", "up"))
        assert "127.0.0.1:2379" in line and "in use" in line and "etcd" in line, line
        links = private.run("ip", "-o", "link", "show").stdout
        assert "shakedown0" not in links, "the failed start left its interface"
        assert not any((private.state / "pids").glob("*.pid"))
    finally:
        blocker.send_signal(signal.SIGTERM)
        blocker.wait()


def test_crashed_run_is_cleaned_up_on_next_start(private_cluster: PrivateCluster) -> None:
    private = private_cluster
    first = private.shakedown("cluster", "up")
    assert first.returncode == 0, first.stdout[-1500:] + first.stderr

    # Another state directory in the same network namespace must not take it over.
    other = private.shakedown("cluster", "up", env={"SHAKEDOWN_STATE": str(private.base / "other")})
    assert "belongs to another local cluster" in one_line_error(other)
    still = private.shakedown("cluster", "status")
    assert still.returncode == 0, still.stdout

    # Crash: every component killed at once, its PID files and mounts left behind.
    for pid_file in (private.state / "pids").glob("*.pid"):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    again = private.shakedown("cluster", "up")
    assert again.returncode == 0, again.stdout[-1500:] + again.stderr
    assert "cleaning up a half-started cluster" in again.stdout
    assert "node ready" in again.stdout
    status = private.shakedown("cluster", "status")
    assert status.returncode == 0 and "local cluster: healthy" in status.stdout, status.stdout


def test_go_module_download_failure_is_one_line(
    private_cluster: PrivateCluster, tmp_path: Path
) -> None:
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no binaries yet: a build is needed
        "GOMODCACHE": str(tmp_path / "modcache"),  # no modules either
        "GOPROXY": "off",  # and no way to download them
        "GOFLAGS": "-mod=mod",
    }
    line = one_line_error(private_cluster.shakedown("cluster", "up", env=env))
    assert "could not download modules" in line, line
    assert "GOPROXY" in line, line


def test_missing_package_apt_cannot_install_is_one_line() -> None:
    with pytest.raises(ClusterError) as failed:
        packages.ensure({"shakedown-no-such-package": "/nonexistent/shakedown"}, say=lambda _: None)
    message = str(failed.value)
    assert "\n" not in message
    assert "shakedown-no-such-package" in message, message
    assert "apt-get" in message, message
