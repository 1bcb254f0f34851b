"""A cluster killed without cleanup is taken over by ``up`` from another state directory.

This is how CI runs: a work session's processes are all SIGKILLed (the cluster's
components, its containerd shims and its pods die, but the node interface,
``cni0``, veths, pod namespaces, mounts, iptables chains and cgroups stay), then
a fresh clone in another folder runs ``make test``, whose ``up`` finds a network
made by a state directory that is not its own. While that other cluster lives,
``up`` must refuse (one line); once it is dead, ``up`` must clean up what it
left and start, and ``down`` must then leave nothing of either.

Both clusters run in one private network namespace (the ``private_cluster``
fixture), each with its own state directory and cgroup root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.test_local_faults import one_line_error
from tests.fixtures.cluster import PrivateCluster

pytestmark = pytest.mark.cluster

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sleeper
    image: 198.19.255.1:5000/shakedown/busybox:latest
    command: [sleep, "3600"]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def _started(pid: int) -> int | None:
    """Start time of a live (not zombie) process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _alive(pid: int) -> bool:
    return _started(pid) is not None


@dataclass(frozen=True)
class Cluster:
    """One of the two clusters: where its state and its pods live."""

    state: Path
    cgroup: str

    def processes(self) -> list[int]:
        """Components (PID files), containerd shims (by socket argument) and pod processes."""
        found = set()
        for pid_file in (self.state / "pids").glob("*.pid"):
            pid, started = (int(x) for x in pid_file.read_text().split())
            if _started(pid) == started:  # not a reused PID
                found.add(pid)
        sock = f"-address {self.state / 'containerd' / 'containerd.sock'}"
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if sock in cmdline:
                    found.add(int(entry.name))
        for procs in Path("/sys/fs/cgroup/pids", self.cgroup).rglob("cgroup.procs"):
            found.update(int(pid) for pid in procs.read_text().split())
        return sorted(pid for pid in found if _alive(pid))

    def mounts(self) -> list[str]:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
        return [line.split()[4] for line in lines if line.split()[4].startswith(str(self.state))]

    def cgroups(self) -> list[str]:
        return [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{self.cgroup}")]

    def pod_netns(self) -> list[str]:
        """Names under /run/netns of the namespaces this cluster's pods use."""
        inodes = set()
        for pid in self.processes():
            try:
                inodes.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
        names = []
        for entry in Path("/run/netns").iterdir():
            try:
                if entry.name.startswith("cni-") and os.stat(entry).st_ino in inodes:
                    names.append(entry.name)
            except OSError:
                continue
        return names


def network(private: PrivateCluster) -> tuple[list[str], list[str]]:
    """Links (but lo) and KUBE-/CNI-/SHAKEDOWN- chains in the private namespace."""
    out = private.run("ip", "-o", "link", "show").stdout.splitlines()
    links = [line.split(":")[1].strip().split("@")[0] for line in out]
    chains = []
    for save in ("iptables-save", "ip6tables-save"):
        for line in private.run(save).stdout.splitlines():
            name = line[1:].split()[0] if line.startswith(":") else ""
            if name.startswith(("KUBE-", "CNI-", "SHAKEDOWN-")):
                chains.append(f"{save}:{name}")
    return [link for link in links if link != "lo"], chains


def inet_tables(private: PrivateCluster) -> list[str]:
    """nftables tables of family inet in the private namespace (the pods' isolation)."""
    listed = private.run("nft", "list", "tables").stdout.splitlines()
    return [line for line in listed if line.startswith("table inet ")]


def ipsets(private: PrivateCluster) -> list[str]:
    """The ipsets in the private namespace (kube-router's, for NetworkPolicies)."""
    return private.run("ipset", "list", "-n").stdout.split()


def kill_everything(cluster: Cluster) -> None:
    """SIGKILL every process of the cluster at once, as CI's end of session does."""
    deadline = time.monotonic() + 30
    while (pids := cluster.processes()) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    assert not cluster.processes(), "processes survived SIGKILL"


@pytest.mark.parametrize("state_dir", ["kept", "gone"])
def test_dead_cluster_of_another_state_dir_is_taken_over(
    private_cluster: PrivateCluster, state_dir: str
) -> None:
    """``gone``: the dead cluster's checkout was deleted too (only the machine record is left)."""
    private = private_cluster
    a = Cluster(private.state, private.cgroup)
    b = Cluster(private.base / "b", f"{private.cgroup}-b")
    b_env = {"SHAKEDOWN_STATE": str(b.state), "SHAKEDOWN_CGROUP_ROOT": b.cgroup}

    started = private.shakedown("cluster", "up")
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr
    manifest = private.base / "sleeper.yaml"
    manifest.write_text(POD)
    assert private.kubectl("apply", "-f", str(manifest)).returncode == 0
    ready = private.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=90s")
    assert ready.returncode == 0, ready.stderr

    # While A lives, B is refused in one line naming A, and A is untouched.
    refused = one_line_error(private.shakedown("cluster", "up", env=b_env))
    assert "belongs to another local cluster" in refused and str(a.state) in refused, refused
    assert private.shakedown("cluster", "status").returncode == 0

    # The end of a CI session: every process SIGKILLed, nothing cleaned up.
    netns = a.pod_netns()
    assert netns, "no pod network namespace while A runs"
    deadline = time.monotonic() + 30  # kube-router makes the policy's ipsets as it syncs
    while not ipsets(private) and time.monotonic() < deadline:
        time.sleep(0.5)
    kill_everything(a)
    links, chains = network(private)
    assert {"shakedown0", "cni0"} <= set(links) and chains and a.mounts() and a.cgroups()
    assert ipsets(private), "no ipsets of the NetworkPolicy enforcer while A ran"
    assert inet_tables(private) == ["table inet shakedown"], "no isolation table while A ran"
    if state_dir == "gone":
        for point in sorted(a.mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=True, timeout=30)
        shutil.rmtree(a.state)

    try:
        took = private.shakedown("cluster", "up", env=b_env)
        assert took.returncode == 0, took.stdout[-2000:] + took.stderr
        assert f"taking over the cluster network of {a.state}" in took.stdout, took.stdout
        assert "node ready" in took.stdout, took.stdout
        status = private.shakedown("cluster", "status", env=b_env)
        assert status.returncode == 0 and "healthy" in status.stdout, status.stdout
        # Nothing of A is left while B runs.
        assert not a.mounts(), a.mounts()
        assert not a.cgroups(), a.cgroups()
        assert not [n for n in netns if Path("/run/netns", n).exists()], netns
        assert not list((a.state / "pids").glob("*.pid"))

        stopped = private.shakedown("cluster", "down", env=b_env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "nothing left behind" in stopped.stdout
    finally:
        if any((b.state / "pids").glob("*.pid")):
            private.shakedown("cluster", "down", env=b_env)

    assert (a.processes(), b.processes()) == ([], [])
    assert (a.mounts(), b.mounts()) == ([], [])
    assert (a.cgroups(), b.cgroups()) == ([], [])
    assert network(private) == ([], [])
    assert ipsets(private) == []
    assert inet_tables(private) == []
    assert not [n for n in netns if Path("/run/netns", n).exists()], netns
