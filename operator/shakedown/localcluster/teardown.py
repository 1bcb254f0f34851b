"""Stop the local cluster and remove everything it left on the machine.

Processes are stopped by PID in the reverse of their start order, pods are
killed through their cgroups, and mounts, network namespaces, interfaces,
iptables chains, cgroups and sysctls are put back; then ``leftovers`` must be
empty, or the stop is reported as failed with what remains.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable

from shakedown.localcluster import cgroups, hostnet, isolation, netpol, owner, procs
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.health import components, leftovers, owns_network, shims
from shakedown.localcluster.layout import Layout

Say = Callable[[str], None]

#: Per-run directories, thrown away by ``down`` (certificates and registry data stay).
EPHEMERAL: tuple[str, ...] = ("etcd", "kubelet", "containerd", "cni", "pod-logs", "config")


def stop(layout: Layout, *, say: Say) -> None:
    """Take the cluster of ``layout`` down (the caller holds its lock); raise if anything stays."""
    owned = owns_network(layout)
    tracked = {t.name: t for t in components(layout)}
    first = [tracked[n] for n in ("kube-router", "kubelet", "kube-proxy", "kube-scheduler",
                                  "kube-controller-manager") if n in tracked]  # fmt: skip
    say("stopping kube-router, kubelet, kube-proxy, scheduler and controller-manager")
    procs.stop_all(first, grace=10)
    pod_netns = hostnet.our_netns(layout) if owned else []
    if owned:
        kill_pods(layout)
    say("stopping containerd, API server, etcd and the registry")
    # On SIGTERM the API server drains for over 30 s and etcd waits for it; both
    # hold only per-run state that the next ``up`` throws away, so they are not
    # given time (measured: a 10 s grace expired on every ``down``).
    procs.stop_all([tracked[n] for n in ("kube-apiserver", "etcd") if n in tracked], grace=0)
    procs.stop_all([tracked[n] for n in ("containerd", "registry") if n in tracked], grace=10)
    procs.stop_all(shims(layout), grace=3)
    say("removing mounts, network namespaces, interfaces and iptables chains")
    hostnet.unmount_all([layout.state])
    if owned:
        kill_pods(layout)
        pod_netns = sorted(set(pod_netns) | set(hostnet.our_netns(layout)))
        hostnet.remove_netns(pod_netns)
        hostnet.remove_links(layout)
        hostnet.remove_chains()
        netpol.remove_ipsets()  # only once no rule matches them
        isolation.remove()
        cgroups.remove_cgroups(layout)
        hostnet.restore(layout)
    remains = leftovers(layout) + [f"sysctl {s}" for s in hostnet.changed_sysctls(layout)]
    # Once the veths are gone a pod namespace is no longer recognisable as ours: check by name.
    remains += [f"netns {n}" for n in pod_netns if hostnet.netns_exists(n)]
    remains = list(dict.fromkeys(remains))
    if remains:
        raise ClusterError(
            f"the cluster stopped but left {len(remains)} things behind: "
            f"{'; '.join(remains[:6])}; run 'make cluster-down' again"
        )
    layout.host_snapshot.unlink(missing_ok=True)
    owner.release(layout)
    for pid_path in layout.pids.glob("*.pid"):
        pid_path.unlink()
    for name in EPHEMERAL:
        shutil.rmtree(layout.state / name, ignore_errors=True)
    forget(layout)


def forget(layout: Layout) -> None:
    """Remove the files that tell users a cluster runs (env file and kubeconfig)."""
    layout.env_file.unlink(missing_ok=True)
    layout.kubeconfig.unlink(missing_ok=True)


def kill_pods(layout: Layout) -> None:
    """SIGKILL every process in the pods' cgroups, by PID, until none is left."""
    for _ in range(20):
        pids = cgroups.cgroup_pids(layout)
        if not pids:
            return
        for pid in pids:
            procs.signal_pid(pid, signal.SIGKILL)
        time.sleep(0.2)
        procs.reap()
