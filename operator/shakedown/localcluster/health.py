"""How the local cluster is doing, and what of it is still on the machine.

Both ``up`` (is there a healthy cluster to reuse, or remains to clean?) and
``down`` (did anything survive?) ask these questions, and so does
``shakedown cluster status``; they only read, never change anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from shakedown.localcluster import api, cgroups, dns, hostnet, isolation, netpol, owner, procs
from shakedown.localcluster.layout import Layout

#: Components in start order; ``down`` stops them in reverse (containerd specially).
COMPONENTS: tuple[str, ...] = (
    "registry",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "kube-router",
)


def component_states(layout: Layout) -> dict[str, bool]:
    found = {t.name: t.alive() for t in procs.tracked(layout.pids)}
    return {name: found.get(name, False) for name in COMPONENTS}


def healthy(layout: Layout) -> bool:
    """Every component alive, /readyz answers, the node is Ready, the registry answers."""
    if not layout.kubeconfig.exists() or not all(component_states(layout).values()):
        return False
    return api.readyz(layout) and api.node_ready(layout) and api.registry_up(layout)


def has_remains(layout: Layout) -> bool:
    """Anything of an earlier run (PID files, mounts, interfaces, chains) still around."""
    return bool(list(procs.tracked(layout.pids))) or bool(leftovers(layout))


def owns_network(layout: Layout) -> bool:
    """Whether this state directory set up the network it finds.

    Interfaces and iptables chains carry no owner; the machine-wide record
    (``owner.py``) written before they are made is what ties them to one state
    directory, so a cluster started from another state directory in the same
    network namespace is never torn down while it lives. Without a record (a
    cluster started before records existed), the state directory's own host
    record (``host.json``) decides, as it used to.
    """
    record = owner.read()
    if record is not None:
        return record.names(layout)
    return layout.host_snapshot.exists()


def foreign_network(layout: Layout) -> bool:
    """The node interface exists but another state directory made it."""
    return not owns_network(layout) and hostnet.link_exists(layout.network.node_interface)


def leftovers(layout: Layout) -> list[str]:
    """What the cluster left on this machine; empty when it is fully down."""
    net = layout.network
    found = [f"process {t.name} (pid {t.pid})" for t in components(layout) if t.alive()]
    found += [f"shim process pid {t.pid}" for t in shims(layout)]
    if layout.state.exists():
        found += [f"mount {m}" for m in hostnet.mounts_under([layout.state])]
    if not owns_network(layout):
        return found  # cgroups, namespaces, links and chains belong to someone else
    found += [f"pod process pid {pid}" for pid in cgroups.cgroup_pids(layout)]
    found += [f"cgroup {d}" for d in cgroups.cgroup_dirs(layout)]
    found += [f"netns {n}" for n in hostnet.our_netns(layout)]
    found += [f"veth {v}" for v in hostnet.veths_on(net.pod_bridge)]
    found += [
        f"interface {link}"
        for link in (net.pod_bridge, net.node_interface)
        if hostnet.link_exists(link)
    ]
    found += [f"iptables chain {c}" for c in hostnet.our_chains()]
    found += [f"ipset {s}" for s in netpol.our_ipsets()]
    if isolation.exists():
        found.append(f"nftables table {isolation.FAMILY} {isolation.TABLE}")
    return found


def components(layout: Layout) -> list[procs.Tracked]:
    """The cluster's processes: its PID files, plus what the machine record names."""
    found = {t.name: t for t in procs.tracked(layout.pids)}
    record = owner.read()
    if record is not None and record.names(layout):
        for name, (pid, started) in record.processes.items():
            found.setdefault(name, procs.Tracked(name, pid, started))
    return list(found.values())


def shims(layout: Layout) -> list[procs.Tracked]:
    """containerd's shim processes, which outlive containerd and own the pods."""
    return procs.processes_matching(f"-address {layout.containerd_socket}")


@dataclass(frozen=True)
class Status:
    components: dict[str, bool]
    readyz: bool
    node_ready: bool
    registry: bool
    dns: bool
    rss_mib: float

    @property
    def healthy(self) -> bool:
        return all(self.components.values()) and self.readyz and self.node_ready and self.registry


def memory_kib(layout: Layout) -> int:
    """RSS of every cluster process: components, containerd shims and pod processes."""
    pids = {t.pid for t in procs.tracked(layout.pids) if t.alive()}
    pids |= {t.pid for t in shims(layout)}
    pids |= set(cgroups.cgroup_pids(layout))
    return sum(procs.rss_kib(pid) for pid in pids)


def status(layout: Layout) -> Status:
    states = component_states(layout)
    up_now = layout.kubeconfig.exists() and any(states.values())
    return Status(
        components=states,
        readyz=up_now and api.readyz(layout),
        node_ready=up_now and api.node_ready(layout),
        registry=api.registry_up(layout),
        dns=up_now and dns.ready(layout),
        rss_mib=memory_kib(layout) / 1024,
    )
