"""Restart one component of a running local cluster, the way an outage would.

Fault tests (an API server restarted during a bake, etcd restarted in the
middle of a run) need a single component to go away and come back with the
same arguments, certificates and data, while everything else keeps running.
``up`` cannot do that: a cluster with a dead component is torn down and
started again, which would end the very run under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shakedown.localcluster import api, cluster, configs, owner, procs
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.startup import etcd_healthy

Say = Callable[[str], None]


@dataclass(frozen=True)
class Component:
    args: Callable[[Layout], list[str]]
    healthy: Callable[[Layout], bool]


RESTARTABLE: dict[str, Component] = {
    "etcd": Component(configs.etcd_args, etcd_healthy),
    "kube-apiserver": Component(configs.apiserver_args, api.readyz),
    "registry": Component(configs.registry_args, api.registry_up),
}


def restart(layout: Layout, name: str, *, down_for: float = 0.0, say: Say = print) -> float:
    """Stop ``name`` by its PID, wait ``down_for`` seconds, start it again; seconds it was gone.

    Returns the time from the stop to the component answering again. Raises
    ClusterError when the component is not running, cannot be restarted, or
    does not answer within 90 s.
    """
    component = RESTARTABLE.get(name)
    if component is None:
        raise ClusterError(
            f"cannot restart {name!r}: one of {', '.join(sorted(RESTARTABLE))} can be"
        )
    # Under the cluster's lock: a concurrent ``up`` would otherwise see the
    # component gone and rebuild the whole cluster under the outage.
    with cluster.locked(layout):
        return _restart(layout, name, component, down_for=down_for, say=say)


def _restart(
    layout: Layout, name: str, component: Component, *, down_for: float, say: Say
) -> float:
    tracked = procs.read(layout.pids, name)
    if tracked is None or not tracked.alive():
        raise ClusterError(f"{name} is not running: start the cluster with 'make cluster'")
    say(f"stopping {name} (PID {tracked.pid})")
    stopped = time.monotonic()
    survivors = procs.stop_all([tracked])
    if survivors:
        raise ClusterError(f"{name} (PID {tracked.pid}) did not stop")
    if down_for > 0:
        time.sleep(down_for)
    say(f"starting {name}")
    started = procs.start(name, component.args(layout), pids=layout.pids, logs=layout.logs)
    owner.add_process(layout, started)
    deadline = time.monotonic() + 90
    while not component.healthy(layout):
        if not started.alive():
            raise ClusterError(procs.exited_message(name, layout.logs / f"{name}.log"))
        if time.monotonic() > deadline:
            raise ClusterError(f"{name} did not answer within 90s of its restart")
        time.sleep(0.2)
    gone = time.monotonic() - stopped
    say(f"{name} answers again, {gone:.1f}s after it stopped")
    return gone
