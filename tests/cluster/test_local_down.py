"""``shakedown cluster down`` leaves nothing behind.

This needs a cluster it may destroy, and the shared local cluster is in use by
other test sessions and people during the day, so the test starts a second,
private cluster: its own state directory (a temporary directory), its own
cgroup root, and its own network namespace (bound to a file in the temporary
directory, not with ``ip netns add``, and entered with ``nsenter --net`` only,
so mounts, processes and cgroups stay visible from here). Inside that
namespace the same addresses and ports are free. The test puts a pod with a
Service, a hostPort and a NetworkPolicy on it, checks that the traces it is
about to look for exist (processes, mounts, pod network namespace, veth,
bridge, node interface, iptables chains, the NetworkPolicy enforcer's ipsets,
the isolation's nftables table, cgroups), runs ``down``, and checks each of
them is gone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.cluster import PrivateCluster

pytestmark = pytest.mark.cluster


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %(registry)s/shakedown/busybox:latest
    command: [sh, -c, "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, hostPort: 18080}]
    readinessProbe: {httpGet: {path: /index.html, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-only-from-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
"""


@dataclass(frozen=True)
class Traces:
    """What a cluster leaves on the machine, looked up independently of the code under test."""

    processes: list[str]
    mounts: list[str]
    pod_netns: list[str]
    links: list[str]
    chains: list[str]
    ipsets: list[str]
    nft_tables: list[str]
    cgroups: list[str]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def look(private: PrivateCluster, watched_netns: list[str]) -> Traces:
    state = private.state
    processes = []
    for pid_file in (state / "pids").glob("*.pid"):
        pid = int(pid_file.read_text().split()[0])
        if _alive(pid):
            processes.append(f"{pid_file.stem}:{pid}")
    sock = state / "containerd" / "containerd.sock"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"-address {sock}" in cmdline and _alive(int(entry.name)):
                processes.append(f"shim:{entry.name}")
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(state))
    ]
    netns = [n for n in watched_netns if Path("/run/netns", n).exists()]
    links = [
        line.split(":")[1].strip().split("@")[0]
        for line in private.run("ip", "-o", "link", "show").stdout.splitlines()
    ]
    links = [link for link in links if link != "lo"]
    chains = []
    for save in ("iptables-save", "ip6tables-save"):
        for line in private.run(save).stdout.splitlines():
            name = line[1:].split()[0] if line.startswith(":") else ""
            if name.startswith(("KUBE-", "CNI-", "SHAKEDOWN-")):
                chains.append(f"{save}:{name}")
    ipsets = private.run("ipset", "list", "-n").stdout.split()
    nft_tables = inet_tables(private)
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{private.cgroup}")]
    return Traces(processes, mounts, netns, links, chains, ipsets, nft_tables, cgroups)


def inet_tables(private: PrivateCluster) -> list[str]:
    """nftables tables of family inet (the pods' isolation; iptables-nft makes ip/ip6 ones)."""
    listed = private.run("nft", "list", "tables").stdout.splitlines()
    return [line for line in listed if line.startswith("table inet ")]


def pod_netns_names(private: PrivateCluster) -> list[str]:
    """Names under /run/netns of the network namespaces the private cluster's pods use."""
    inodes = set()
    for procs in Path("/sys/fs/cgroup/pids", private.cgroup).rglob("cgroup.procs"):
        for pid in procs.read_text().split():
            try:
                inodes.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
    names = []
    for entry in Path("/run/netns").iterdir():
        try:
            if os.stat(entry).st_ino in inodes:
                names.append(entry.name)
        except OSError:
            continue
    return names


def test_cluster_down_leaves_nothing_behind(private_cluster: PrivateCluster) -> None:
    private = private_cluster
    # A new namespace inherits IPv4 settings from the host's: record, then compare.
    forwarding_before = private.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
    kernel = ("kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory")
    kernel_before = [Path("/proc/sys", k.replace(".", "/")).read_text() for k in kernel]
    started = private.shakedown("cluster", "up")
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr

    manifest = private.base / "web.yaml"
    manifest.write_text(POD % {"registry": "198.19.255.1:5000"})
    applied = private.kubectl("apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    ready = private.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=90s")
    assert ready.returncode == 0, ready.stderr
    # The Service's rules, the hostPort's chains and the policy's chains and ipsets are
    # in place once kube-proxy and kube-router synced.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = look(private, pod_netns_names(private))
        if (
            any("KUBE-SVC-" in c for c in before.chains)
            and any("CNI-HOSTPORT" in c or "CNI-DN-" in c for c in before.chains)
            and any("KUBE-NWPLCY-" in c for c in before.chains)
            and before.ipsets
        ):
            break
        time.sleep(0.5)

    # What down must remove is really there (so the check below can fail).
    assert len(before.processes) >= 10, before.processes  # 9 components and a shim
    assert before.mounts, "no mounts under the state directory while running"
    assert before.pod_netns, "no pod network namespace while running"
    assert {"cni0", "shakedown0"} <= set(before.links), before.links
    assert any(link.startswith("veth") for link in before.links), before.links
    assert any("KUBE-SVC-" in c for c in before.chains), before.chains
    assert any("CNI-" in c for c in before.chains), before.chains
    assert any("KUBE-ROUTER-" in c for c in before.chains), before.chains
    assert any("KUBE-NWPLCY-" in c for c in before.chains), before.chains
    assert any(s.startswith("KUBE-") for s in before.ipsets), before.ipsets
    assert before.nft_tables == ["table inet shakedown"], before.nft_tables
    assert before.cgroups, "no cgroups while running"
    assert private.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    # The kubelet's production tunables (panic on oops) do not outlive its start.
    assert [Path("/proc/sys", k.replace(".", "/")).read_text() for k in kernel] == kernel_before

    stopped = private.shakedown("cluster", "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "nothing left behind" in stopped.stdout

    after = look(private, before.pod_netns)
    assert after == Traces([], [], [], [], [], [], [], []), after
    forwarding = private.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
    assert forwarding == forwarding_before, "ip_forward in the namespace was not restored"
