"""Which state directory owns the cluster network of this network namespace.

Interfaces, iptables chains and cgroups are machine-wide and carry no owner, so
the machine record (``owner.py``) names the state directory that made them.
Before the network is made, ``claim_network`` writes that record, refusing
when a live cluster of another state directory holds it and taking over (by
cleaning away its remains) when that cluster is dead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from shakedown.localcluster import hostnet, owner, procs
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.health import owns_network
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.teardown import stop

Say = Callable[[str], None]


def _foreign(layout: Layout, other: str) -> ClusterError:
    return ClusterError(
        f"interface {layout.network.node_interface} ({layout.network.node_ip}) belongs to "
        f"another local cluster ({other}), not the one in {layout.state}; stop that one first "
        "('make cluster-down' from its checkout)"
    )


def claim_network(layout: Layout, *, say: Say) -> None:
    """Record this state directory as the owner of the network, before it is made.

    Another owner that is alive (a recorded process runs, or an ``up``/``down``
    holds its lock) makes this refuse. A dead one (killed without cleanup: CI
    kills a whole work session, then runs from a fresh clone elsewhere) is taken
    over: what it left (surviving processes by PID, shims, mounts under its state
    directory, pod namespaces, veths, bridges, chains, cgroups, sysctls) is
    removed first, so the new cluster starts on a clean host.
    """
    with owner.locked():
        record = owner.read()
        if record is not None and record.names(layout):
            return
        if record is not None:
            if record.alive() or record.busy():
                raise _foreign(layout, record.state)
            say(
                f"taking over the cluster network of {record.state}: none of its processes "
                "runs any more; removing what it left"
            )
            _take_over(layout, record)
        elif hostnet.link_exists(layout.network.node_interface) and not owns_network(layout):
            # Made before machine records existed: whoever listens on its ports owns it.
            busy = _listening(layout)
            if busy:
                raise _foreign(layout, f"listening on {', '.join(busy)}")
            say(
                f"taking over an unrecorded cluster network ({layout.network.node_interface}, "
                "nothing listens on its ports); removing what it left"
            )
            owner.write(owner.Owner.new(layout))
            _take_over_unrecorded(layout)
        owner.write(owner.Owner.new(layout))


def _take_over(layout: Layout, record: owner.Owner) -> None:
    """Take down a dead cluster of another state directory (which may no longer exist)."""
    dead = Layout(
        repo=layout.repo,
        state=Path(record.state),
        cache=layout.cache,
        network=replace(layout.network, cgroup_root=record.cgroup_root),
    )
    try:
        stop(dead, say=lambda _msg: None)
    except ClusterError as exc:
        message = f"could not clean up the dead cluster of {record.state}: {exc}"
        raise ClusterError(message) from None


def _take_over_unrecorded(layout: Layout) -> None:
    """Clean up a network without a record: its state directory is unknown, so no mounts."""
    try:
        stop(layout, say=lambda _msg: None)
    except ClusterError as exc:
        raise ClusterError(f"could not clean up the unrecorded cluster network: {exc}") from None


def _listening(layout: Layout) -> list[str]:
    """``address:port`` of the cluster's main listeners that something uses right now."""
    net = layout.network
    main = (
        (net.node_ip, net.apiserver_port),
        (net.node_ip, net.registry_port),
        ("127.0.0.1", net.etcd_client_port),
    )
    return [f"{address}:{port}" for address, port in main if not procs.port_free(address, port)]


def adopt(layout: Layout) -> None:
    """Write the machine record for a running cluster started before records existed."""
    with owner.locked():
        if owner.read() is not None or not layout.host_snapshot.exists():
            return
        try:
            host = json.loads(layout.host_snapshot.read_text())
        except ValueError:
            host = None
        running = {t.name: (t.pid, t.started) for t in procs.tracked(layout.pids) if t.alive()}
        record = owner.Owner(
            state=str(layout.state),
            cgroup_root=layout.network.cgroup_root,
            processes=running,
            host=host if isinstance(host, dict) else None,
        )
        owner.write(record)
