"""Bring the local cluster up, take it down, and tell how it is doing.

``up`` is idempotent: a healthy cluster is left alone, a half-started one (a
crash, a killed ``up``) is cleaned away first, and a failed start is undone so
no process is left behind; the logs stay under ``.shakedown/logs``. ``down``
stops every process by PID, removes what pods left on the host and verifies
that nothing remains. Both hold a lock, so concurrent callers (several pytest
sessions) take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from shakedown.localcluster import (
    api,
    configs,
    dns,
    gobuild,
    hostnet,
    images,
    owner,
    packages,
    pki,
    procs,
)
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout

Say = Callable[[str], None]

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
)

#: Per-run directories, thrown away by ``down`` (certificates and registry data stay).
EPHEMERAL: tuple[str, ...] = ("etcd", "kubelet", "containerd", "cni", "pod-logs", "config")


@dataclass(frozen=True)
class Timings:
    """Seconds from the start of ``up`` to each milestone."""

    readyz: float
    node_ready: float


@contextlib.contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Hold the cluster's lock file (blocks while another up/down runs)."""
    layout.state.mkdir(parents=True, exist_ok=True)
    with (layout.state / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def env_text(layout: Layout) -> str:
    return f"KUBECONFIG={layout.kubeconfig}\nREGISTRY={layout.network.registry}\n"


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


# -- health ------------------------------------------------------------------------
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
    found = [f"process {t.name} (pid {t.pid})" for t in _components(layout) if t.alive()]
    found += [f"shim process pid {t.pid}" for t in _shims(layout)]
    if layout.state.exists():
        found += [f"mount {m}" for m in hostnet.mounts_under([layout.state])]
    if not owns_network(layout):
        return found  # cgroups, namespaces, links and chains belong to someone else
    found += [f"pod process pid {pid}" for pid in hostnet.cgroup_pids(layout)]
    found += [f"cgroup {d}" for d in hostnet.cgroup_dirs(layout)]
    found += [f"netns {n}" for n in hostnet.our_netns(layout)]
    found += [f"veth {v}" for v in hostnet.veths_on(net.pod_bridge)]
    found += [
        f"interface {link}"
        for link in (net.pod_bridge, net.node_interface)
        if hostnet.link_exists(link)
    ]
    found += [f"iptables chain {c}" for c in hostnet.our_chains()]
    return found


def _components(layout: Layout) -> list[procs.Tracked]:
    """The cluster's processes: its PID files, plus what the machine record names."""
    found = {t.name: t for t in procs.tracked(layout.pids)}
    record = owner.read()
    if record is not None and record.names(layout):
        for name, (pid, started) in record.processes.items():
            found.setdefault(name, procs.Tracked(name, pid, started))
    return list(found.values())


def _shims(layout: Layout) -> list[procs.Tracked]:
    return procs.processes_matching(f"-address {layout.containerd_socket}")


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
        _adopt(layout)
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
        _down(layout, say=say)
    try:
        return _up(layout, say=say)
    except BaseException:
        with contextlib.suppress(ClusterError):
            _down(layout, say=lambda _msg: None)
        raise


# -- who owns the network of this namespace (machine-wide) ---------------------------
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
        _down(dead, say=lambda _msg: None)
    except ClusterError as exc:
        message = f"could not clean up the dead cluster of {record.state}: {exc}"
        raise ClusterError(message) from None


def _take_over_unrecorded(layout: Layout) -> None:
    """Clean up a network without a record: its state directory is unknown, so no mounts."""
    try:
        _down(layout, say=lambda _msg: None)
    except ClusterError as exc:
        raise ClusterError(f"could not clean up the unrecorded cluster network: {exc}") from None


def _listening(layout: Layout) -> list[str]:
    """``address:port`` of the cluster's main listeners that something uses right now."""
    net = layout.network
    busy = []
    for address, port in (
        (net.node_ip, net.apiserver_port),
        (net.node_ip, net.registry_port),
        ("127.0.0.1", net.etcd_client_port),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                busy.append(f"{address}:{port}")
    return busy


def _adopt(layout: Layout) -> None:
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
        _down(layout, say=say)
        return True


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ClusterError(
            "the local cluster needs root (kubelet, containerd, network setup); run it as root"
        )


def _check_ports(layout: Layout) -> None:
    for component, address, port in layout.network.listeners():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Like the Go servers: a connection in TIME_WAIT does not block the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                owner = procs.port_owner(port)
                raise ClusterError(
                    f"port {address}:{port} (for {component}) is in use by {owner}; stop it "
                    "(or run 'make cluster-down' if it is an old local cluster) and retry"
                ) from None


def _up(layout: Layout, *, say: Say) -> Timings:
    _require_root()
    packages.ensure(say=say)
    gobuild.build_kube(layout, say=say)
    pause_binary = gobuild.build_static(layout, "pause", layout.repo / "hack/images/pause", say=say)

    for name in EPHEMERAL:
        shutil.rmtree(layout.state / name, ignore_errors=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    claim_network(layout, say=say)  # the machine record, before the network is made
    hostnet.snapshot(layout)
    hostnet.ensure_node_interface(layout)
    hostnet.ensure_netns_dir()
    _check_ports(layout)
    hostnet.ensure_cgroups(layout)
    hostnet.ensure_isolation(layout)

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
    _wait(layout, "etcd", lambda: _etcd_healthy(layout), running, timeout=30, say=say)
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


def _etcd_healthy(layout: Layout) -> bool:
    import urllib.request

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


# -- down ------------------------------------------------------------------------------
def down(layout: Layout, *, say: Say = print) -> None:
    """Stop the cluster and remove everything it left; raise if something remains."""
    with locked(layout):
        if not has_remains(layout):
            say("local cluster is not running")
            owner.release(layout)
            _forget(layout)
            return
        others = [pid for pid in users(layout) if pid != os.getpid()]
        if others:
            say(f"note: processes {others} (test sessions) were using the cluster")
        _down(layout, say=say)
    say("local cluster stopped; nothing left behind")


def _down(layout: Layout, *, say: Say) -> None:
    owned = owns_network(layout)
    tracked = {t.name: t for t in _components(layout)}
    first = [tracked[n] for n in ("kubelet", "kube-proxy", "kube-scheduler",
                                  "kube-controller-manager") if n in tracked]  # fmt: skip
    say("stopping kubelet, kube-proxy, scheduler and controller-manager")
    procs.stop_all(first, grace=10)
    pod_netns = hostnet.our_netns(layout) if owned else []
    if owned:
        _kill_pods(layout)
    say("stopping containerd, API server, etcd and the registry")
    # On SIGTERM the API server drains for over 30 s and etcd waits for it; both
    # hold only per-run state that the next ``up`` throws away, so they are not
    # given time (measured: a 10 s grace expired on every ``down``).
    procs.stop_all([tracked[n] for n in ("kube-apiserver", "etcd") if n in tracked], grace=0)
    procs.stop_all([tracked[n] for n in ("containerd", "registry") if n in tracked], grace=10)
    procs.stop_all(_shims(layout), grace=3)
    say("removing mounts, network namespaces, interfaces and iptables chains")
    hostnet.unmount_all([layout.state])
    if owned:
        _kill_pods(layout)
        pod_netns = sorted(set(pod_netns) | set(hostnet.our_netns(layout)))
        hostnet.remove_netns(pod_netns)
        hostnet.remove_links(layout)
        hostnet.remove_chains()
        hostnet.remove_cgroups(layout)
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
    _forget(layout)


def _forget(layout: Layout) -> None:
    layout.env_file.unlink(missing_ok=True)
    layout.kubeconfig.unlink(missing_ok=True)


def _kill_pods(layout: Layout) -> None:
    """SIGKILL every process in the pods' cgroups, by PID, until none is left."""
    for _ in range(20):
        pids = hostnet.cgroup_pids(layout)
        if not pids:
            return
        for pid in pids:
            procs.signal_pid(pid, signal.SIGKILL)
        time.sleep(0.2)
        procs.reap()


# -- status ------------------------------------------------------------------------
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
    pids |= {t.pid for t in _shims(layout)}
    pids |= set(hostnet.cgroup_pids(layout))
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


def kubectl(layout: Layout, *args: str, check: bool = True) -> str:
    """Run the pinned kubectl against the local cluster; return stdout."""
    proc = subprocess.run(
        [str(layout.binary("kubectl")), f"--kubeconfig={layout.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()[:300]}")
    return proc.stdout


__all__ = ["Path", "Status", "Timings", "down", "healthy", "leftovers", "status", "up"]
