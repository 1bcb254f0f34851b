"""Start the local cluster's components in order, each once the one before answers.

The order is fixed by what each needs: the registry first (the node's images
are built and pushed before containerd asks for them), etcd before the API
server, the API server before the controllers and the kubelet, and cluster
DNS last. Every wait watches the processes already started, so a component
that dies is reported with its log instead of a timeout.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shakedown.localcluster import (
    api,
    cgroups,
    configs,
    dns,
    gobuild,
    hostnet,
    images,
    isolation,
    netpol,
    owner,
    packages,
    pki,
    procs,
)
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.takeover import claim_network
from shakedown.localcluster.teardown import EPHEMERAL

Say = Callable[[str], None]


@dataclass(frozen=True)
class Timings:
    """Seconds from the start of ``up`` to each milestone."""

    readyz: float
    node_ready: float


def env_text(layout: Layout) -> str:
    return f"KUBECONFIG={layout.kubeconfig}\nREGISTRY={layout.network.registry}\n"


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError(
            "the local cluster needs root (kubelet, containerd, network setup); run it as root"
        )


def _check_ports(layout: Layout) -> None:
    for component, address, port in layout.network.listeners():
        if not procs.port_free(address, port):
            holder = procs.port_owner(port)
            raise ClusterError(
                f"port {address}:{port} (for {component}) is in use by {holder}; stop it "
                "(or run 'make cluster-down' if it is an old local cluster) and retry"
            )


def start(layout: Layout, *, say: Say) -> Timings:
    """Build what is missing and start every component (the caller holds the lock)."""
    _require_root()
    packages.ensure(say=say)
    gobuild.build_kube(layout, say=say)
    pause_binary = gobuild.build_static(layout, "pause", layout.repo / "hack/images/pause", say=say)
    kube_router = netpol.build(layout, say=say)

    for name in EPHEMERAL:
        shutil.rmtree(layout.state / name, ignore_errors=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    claim_network(layout, say=say)  # the machine record, before the network is made
    hostnet.snapshot(layout)
    hostnet.ensure_node_interface(layout)
    hostnet.ensure_netns_dir()
    _check_ports(layout)
    cgroups.ensure_cgroups(layout)
    isolation.ensure(layout.network.pod_bridge)

    say("preparing certificates and configuration")
    pki.ensure(layout.pki, layout.network)
    _write_configs(layout)

    started = time.monotonic()
    running: list[procs.Tracked] = []

    def launch(name: str, args: list[str]) -> None:
        say(f"starting {name}")
        running.append(procs.start(name, args, pids=layout.pids, logs=layout.logs))
        owner.add_process(layout, running[-1])

    launch("registry", configs.registry_args(layout))
    _wait(layout, "the registry", lambda: api.registry_up(layout), running, timeout=30, say=say)
    pause = images.build_pause(layout, pause_binary, say=say)
    images.build_busybox(layout, say=say)
    coredns = dns.build_image(layout, say=say)
    configs.write(
        layout.config / "containerd.toml",
        configs.containerd_config(layout, sandbox_image=pause.by_digest),
    )

    launch("etcd", configs.etcd_args(layout))
    _wait(layout, "etcd", lambda: etcd_healthy(layout), running, timeout=30, say=say)
    launch("kube-apiserver", configs.apiserver_args(layout))
    say("waiting for /readyz")
    _wait(layout, "/readyz", lambda: api.readyz(layout), running, timeout=90, say=None)
    readyz = time.monotonic() - started
    say(f"API server ready in {readyz:.1f}s")
    launch("kube-controller-manager", configs.controller_manager_args(layout))
    launch("kube-scheduler", configs.scheduler_args(layout))
    launch("containerd", configs.containerd_args(layout))
    _wait(layout, "containerd", layout.containerd_socket.exists, running, timeout=30, say=None)
    launch("kubelet", configs.kubelet_args(layout))
    launch("kube-proxy", configs.kube_proxy_args(layout))
    say("waiting for the node to be Ready")
    _wait(layout, "node Ready", lambda: api.node_ready(layout), running, timeout=120, say=None)
    node_ready = time.monotonic() - started
    say(f"node ready in {node_ready:.1f}s")
    hostnet.restore_kernel_tunables(layout)
    _start_enforcer(layout, kube_router, running, say=say)
    say(f"NetworkPolicy enforcer ready in {time.monotonic() - started:.1f}s")
    # Pods cannot be created in a namespace before its default ServiceAccount exists.
    _wait(
        layout,
        "the default ServiceAccount",
        lambda: (
            api.get_json(layout, "/api/v1/namespaces/default/serviceaccounts/default") is not None
        ),
        running,
        timeout=60,
        say=None,
    )
    say("starting cluster DNS (CoreDNS)")
    dns.apply(layout, coredns.by_digest)
    _wait(layout, "CoreDNS", lambda: dns.ready(layout), running, timeout=90, say=None)
    say(f"cluster DNS ready in {time.monotonic() - started:.1f}s")
    configs.write(layout.env_file, env_text(layout))
    return Timings(readyz=readyz, node_ready=node_ready)


def _start_enforcer(
    layout: Layout, binary: Path, running: list[procs.Tracked], *, say: Say
) -> None:
    say("starting the NetworkPolicy enforcer (kube-router, firewall only)")
    netpol.apply_rbac(layout)
    say(f"starting {netpol.NAME}")
    running.append(
        procs.start(netpol.NAME, netpol.args(layout, binary), pids=layout.pids, logs=layout.logs)
    )
    owner.add_process(layout, running[-1])
    _wait(layout, "kube-router's first sync", netpol.ready, running, timeout=60, say=None)


def add_enforcer(layout: Layout, *, say: Say) -> None:
    """Start kube-router on a running cluster that ``up`` started before it was a component.

    Only its certificate is issued (the CA and the others stay, so every
    kubeconfig in use stays valid); the cluster is not restarted. The pods'
    isolation table goes in first: kube-router accepts the pod traffic its
    policies allow, so an isolation rule of an older ``up`` in iptables' FORWARD
    would no longer be reached.
    """
    packages.ensure(say=say)
    binary = netpol.build(layout, say=say)
    isolation.ensure(layout.network.pod_bridge)
    pki.ensure(layout.pki, layout.network)
    configs.write(netpol.kubeconfig_path(layout), configs.kubeconfig(layout, "kube-router"), 0o600)
    try:
        _start_enforcer(layout, binary, [], say=say)
    except ClusterError:
        stale = procs.read(layout.pids, netpol.NAME)
        if stale is not None:
            procs.stop_all([stale], grace=5)
            procs.pid_file(layout.pids, netpol.NAME).unlink(missing_ok=True)
        raise


def etcd_healthy(layout: Layout) -> bool:
    try:
        url = f"http://127.0.0.1:{layout.network.etcd_client_port}/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait(
    layout: Layout,
    what: str,
    check: Callable[[], bool],
    running: list[procs.Tracked],
    *,
    timeout: float,
    say: Say | None,
) -> None:
    if say is not None:
        say(f"waiting for {what}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in running:
            if not proc.alive():
                raise ClusterError(
                    procs.exited_message(proc.name, layout.logs / f"{proc.name}.log")
                )
        if check():
            return
        time.sleep(0.25)
    names = ", ".join(f"{p.name}.log" for p in running[-2:])
    raise ClusterError(
        f"timed out after {timeout:.0f}s waiting for {what}; read {layout.logs}/ ({names})"
    )


def _write_configs(layout: Layout) -> None:
    cfg = layout.config
    configs.write(layout.kubeconfig, configs.kubeconfig(layout, "admin"), 0o600)
    for user, file in (
        ("controller-manager", "controller-manager.kubeconfig"),
        ("scheduler", "scheduler.kubeconfig"),
        ("kubelet", "kubelet.kubeconfig"),
        ("kube-proxy", "kube-proxy.kubeconfig"),
        ("kube-router", netpol.kubeconfig_path(layout).name),
    ):
        configs.write(cfg / file, configs.kubeconfig(layout, user), 0o600)
    configs.write(cfg / "kubelet.yaml", configs.kubelet_config(layout))
    configs.write(cfg / "kube-proxy.yaml", configs.kube_proxy_config(layout))
    configs.write(cfg / "registry.yml", configs.registry_config(layout))
    configs.write(cfg / "resolv.conf", configs.resolv_conf())
    configs.write(layout.cni_conf_dir / "10-shakedown.conflist", configs.cni_conflist(layout))
    reg = layout.network.registry
    configs.write(
        layout.state / "containerd" / "certs.d" / reg / "hosts.toml",
        configs.registry_hosts_toml(layout),
    )
    layout.registry_data.mkdir(parents=True, exist_ok=True)
    layout.pod_logs.mkdir(parents=True, exist_ok=True)
