"""Bring the local cluster up, take it down, and share it between processes.

``up`` is idempotent: a healthy cluster is left alone, a half-started one (a
crash, a killed ``up``) is cleaned away first, and a failed start is undone so
no process is left behind; the logs stay under ``.shakedown/logs``. ``down``
stops every process by PID, removes what pods left on the host and verifies
that nothing remains. Both hold a lock, so concurrent callers (several pytest
sessions) take turns, and ``acquire``/``release`` count those callers so the
last one out may stop the cluster.

This module only decides and sequences; the work is in ``startup`` (start
order), ``teardown`` (stop and clean), ``takeover`` (who owns the network)
and ``health`` (what runs and what is left).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from shakedown.localcluster import api, netpol, owner, procs, teardown
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.filelock import file_lock
from shakedown.localcluster.health import (
    COMPONENTS,
    Status,
    component_states,
    foreign_network,
    has_remains,
    healthy,
    leftovers,
    memory_kib,
    owns_network,
    status,
)
from shakedown.localcluster.kubectl import kubectl
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.startup import Timings, add_enforcer, env_text, start
from shakedown.localcluster.takeover import adopt, claim_network
from shakedown.localcluster.teardown import EPHEMERAL

Say = Callable[[str], None]

__all__ = [
    "COMPONENTS",
    "EPHEMERAL",
    "Status",
    "Timings",
    "acquire",
    "claim_network",
    "component_states",
    "down",
    "env_text",
    "foreign_network",
    "has_remains",
    "healthy",
    "kubectl",
    "leftovers",
    "locked",
    "memory_kib",
    "owns_network",
    "release",
    "status",
    "up",
    "usage",
    "users",
]


@contextlib.contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Hold the cluster's lock file (blocks while another up/down runs)."""
    with file_lock(layout.state / "lock"):
        yield


def usage(layout: Layout) -> str:
    kubectl = layout.binary("kubectl")
    return (
        f"local cluster is up (Kubernetes {layout.kube_version}, node {layout.network.node_name})\n"
        f"  export $(cat {layout.env_file})     # KUBECONFIG and REGISTRY\n"
        f"  {kubectl} get nodes\n"
        f"  buildah push --tls-verify=false IMAGE docker://{layout.network.registry}/NAME:TAG\n"
        f"  images built here: {layout.network.registry}/shakedown/busybox:latest\n"
        "  stop it with: make cluster-down"
    )


# -- up ------------------------------------------------------------------------------
def up(layout: Layout, *, say: Say = print) -> Timings | None:
    """Start the cluster unless it is already healthy; return timings of a fresh start."""
    with locked(layout):
        timings = _ensure_up(layout, say=say)
    say(usage(layout))
    return timings


def _ensure_up(layout: Layout, *, say: Say) -> Timings | None:
    """``up`` without the lock (the caller holds it)."""
    if healthy(layout):
        adopt(layout)
        say("local cluster already running and healthy")
        return None
    states = component_states(layout)
    if _only_enforcer_missing(layout, states):
        adopt(layout)
        say(
            "local cluster runs without the NetworkPolicy enforcer (started before it was "
            "part of 'up'); adding it without a restart"
        )
        add_enforcer(layout, say=say)
        if healthy(layout):
            say("local cluster already running and healthy")
            return None
        states = component_states(layout)
    if all(states.values()) and layout.kubeconfig.exists():
        # Every process runs: a slow check under load is no reason to wipe a
        # cluster that others may be using. Give it time; refuse rather than restart.
        say("local cluster running but not healthy yet; waiting up to 60s")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if healthy(layout):
                say("local cluster already running and healthy")
                return None
            time.sleep(1)
        failing = [
            name
            for name, ok in (
                ("/readyz", api.readyz(layout)),
                ("node Ready", api.node_ready(layout)),
                ("registry", api.registry_up(layout)),
            )
            if not ok
        ]
        raise ClusterError(
            f"the local cluster runs but is not healthy ({', '.join(failing)} failing); read "
            f"{layout.logs}/, or restart it with 'make cluster-down && make cluster'"
        )
    if any(states.values()):
        dead = [name for name, alive in states.items() if not alive]
        say(f"local cluster is broken ({', '.join(dead)} not running); restarting it")
    claim_network(layout, say=say)
    if has_remains(layout):
        say("cleaning up a half-started cluster from an earlier run")
        teardown.stop(layout, say=say)
    try:
        return start(layout, say=say)
    except BaseException:
        with contextlib.suppress(ClusterError):
            teardown.stop(layout, say=lambda _msg: None)
        raise


def _only_enforcer_missing(layout: Layout, states: dict[str, bool]) -> bool:
    """Everything but kube-router runs and answers: a cluster from before it was a component."""
    others = [alive for name, alive in states.items() if name != netpol.NAME]
    return (
        not states.get(netpol.NAME, False)
        and all(others)
        and layout.kubeconfig.exists()
        and api.readyz(layout)
        and api.node_ready(layout)
        and api.registry_up(layout)
    )


# -- sharing between concurrent users (pytest sessions) --------------------------------
def _leases(layout: Layout) -> Path:
    return layout.state / "users"


def users(layout: Layout) -> list[int]:
    """PIDs of live processes that registered as users of the cluster (stale ones dropped)."""
    live = []
    folder = _leases(layout)
    if folder.is_dir():
        for lease in folder.glob("*"):
            try:
                pid, started = (int(x) for x in lease.read_text().split())
            except ValueError:
                lease.unlink(missing_ok=True)
                continue
            if procs.start_time(pid) == started:
                live.append(pid)
            else:
                lease.unlink(missing_ok=True)
    return sorted(live)


def acquire(layout: Layout, *, say: Say = print) -> bool:
    """Make sure the cluster runs and register this process as a user.

    Returns True when this call started the cluster (so the caller should stop it
    in ``release``), False when it reused a healthy one.
    """
    pid = os.getpid()
    with locked(layout):
        timings = _ensure_up(layout, say=say)
        folder = _leases(layout)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(pid)).write_text(f"{pid} {procs.start_time(pid)}\n")
    return timings is not None


def release(layout: Layout, *, stop: bool, say: Say = print) -> bool:
    """Drop this process's registration; with ``stop``, stop the cluster if no one else uses it.

    Returns True when the cluster was stopped.
    """
    with locked(layout):
        (_leases(layout) / str(os.getpid())).unlink(missing_ok=True)
        others = users(layout)
        if not stop:
            return False
        if others:
            say(f"leaving the local cluster running: in use by pids {others}")
            return False
        teardown.stop(layout, say=say)
        return True


# -- down ------------------------------------------------------------------------------
def down(layout: Layout, *, say: Say = print) -> None:
    """Stop the cluster and remove everything it left; raise if something remains."""
    with locked(layout):
        if not has_remains(layout):
            say("local cluster is not running")
            owner.release(layout)
            teardown.forget(layout)
            return
        others = [pid for pid in users(layout) if pid != os.getpid()]
        if others:
            say(f"note: processes {others} (test sessions) were using the cluster")
        teardown.stop(layout, say=say)
    say("local cluster stopped; nothing left behind")
