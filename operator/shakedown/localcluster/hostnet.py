"""The cluster's footprint on the host, and how to take it away again.

``up`` records what it is about to change (sysctls the kubelet, kube-proxy and
the CNI bridge set; host directories containerd and CNI create) and adds the
node interface; ``down`` removes everything the cluster made: mounts under the
state directory, pod network namespaces, veths, the pod bridge, the node
interface, the iptables chains of kube-proxy, the kubelet, CNI and kube-router,
the pods' isolation table (isolation.py), the pod cgroups, and puts the
recorded values back. ``leftovers`` lists whatever is still there, which is
what tests and ``down`` check.

The node address lives on a bridge without ports named ``shakedown0``: this
kernel is built without the dummy interface driver (CONFIG_DUMMY is not set,
and there are no loadable modules), and an empty bridge is the closest
equivalent: an interface of our own, up, whose address is delivered locally.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from shakedown.localcluster import owner
from shakedown.localcluster.cgroups import cgroup_pids
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout

#: Sysctls that the kubelet, kube-proxy or the CNI bridge plugin may change.
SYSCTLS: tuple[str, ...] = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.netfilter.nf_conntrack_max",
)

#: Host directories that containerd and CNI create on first use.
HOST_DIRS: tuple[str, ...] = (
    "/run/containerd",
    "/var/lib/cni",
    "/run/netns",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",  # the kubelet's device-plugin socket directory is fixed
)

CHAIN_PREFIXES: tuple[str, ...] = ("KUBE-", "CNI-", "SHAKEDOWN-")


def _run(args: list[str], *, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        path = _sysctl_path(name)
        if path.read_text().strip() != value:
            path.write_text(value + "\n")


def snapshot(layout: Layout) -> None:
    """Record the host's values before ``up`` changes anything (kept if already recorded)."""
    if layout.host_snapshot.exists():
        # A crashed run's record is the one that describes the untouched host.
        owner.set_host(layout, _load_snapshot(layout))
        return
    layout.host_snapshot.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {
        "sysctls": read_sysctls(),
        "dirs": {d: os.path.exists(d) for d in HOST_DIRS},
        "netns": sorted(_netns()),
        "netns_mounted": is_mount_point(NETNS_DIR),
    }
    owner.set_host(layout, record)  # machine-wide too: the state directory may vanish
    layout.host_snapshot.write_text(json.dumps(record, indent=2) + "\n")


def restore_kernel_tunables(layout: Layout) -> None:
    """Put back the ``kernel.*``/``vm.*`` values the kubelet changed when it started.

    The kubelet sets ``kernel.panic_on_oops=1``, ``kernel.panic=10`` and
    ``vm.overcommit_memory=1`` once, at start-up, for production nodes; on a
    development machine shared with other work a kernel oops should not reboot
    it, so the host's values go back as soon as the node is up.
    """
    sysctls = _load_snapshot(layout).get("sysctls", {})
    assert isinstance(sysctls, dict)
    for name, value in sysctls.items():
        if name.startswith(("kernel.", "vm.")):
            write_sysctl(name, str(value))


def _load_snapshot(layout: Layout, *, machine_record: bool = True) -> dict[str, object]:
    """The host's values before ``up``: from the state directory, else the machine record."""
    try:
        data: dict[str, object] = json.loads(layout.host_snapshot.read_text())
        return data
    except (FileNotFoundError, ValueError):
        return (owner.host_of(layout) or {}) if machine_record else {}


# -- interfaces ------------------------------------------------------------------------
def link_exists(name: str) -> bool:
    """Whether the link exists in this process's network namespace (netlink, not sysfs)."""
    return _run(["ip", "link", "show", "dev", name]).returncode == 0


def ensure_node_interface(layout: Layout) -> None:
    """Create the node interface with the node address (idempotent)."""
    net = layout.network
    if not link_exists(net.node_interface):
        proc = _run(["ip", "link", "add", net.node_interface, "type", "bridge"])
        if proc.returncode != 0:
            raise ClusterError(
                f"cannot create interface {net.node_interface}: {proc.stderr.strip()}; run as root"
            )
    addrs = _run(["ip", "-o", "-4", "addr", "show", "dev", net.node_interface]).stdout
    if f" {net.node_ip}/32 " not in addrs:
        _run(["ip", "addr", "add", f"{net.node_ip}/32", "dev", net.node_interface], check=True)
    _run(["ip", "link", "set", net.node_interface, "up"], check=True)


# -- iptables --------------------------------------------------------------------------
def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def our_chains() -> list[str]:
    """``family/table/chain`` of every KUBE-/CNI-/SHAKEDOWN- chain on the host."""
    return [
        f"{family}/{table}/{name}"
        for family, saved in _saved_tables()
        for table, names in _ours_in(saved)[0].items()
        for name in names
    ]


def remove_chains() -> None:
    """Delete every rule that jumps to one of our chains, then the chains themselves."""
    for family, saved in _saved_tables():
        chains, rules = _ours_in(saved)
        for tbl, spec in rules:
            _run([family, "-t", tbl, "-D", *spec[1:]])
        for tbl, names in chains.items():
            for name in names:
                _run([family, "-t", tbl, "-F", name])
            for name in names:
                _run([family, "-t", tbl, "-X", name])


def _saved_tables() -> Iterator[tuple[str, str]]:
    """``(family, iptables-save output)`` for iptables and ip6tables, where installed."""
    for family in ("iptables", "ip6tables"):
        save = shutil.which(f"{family}-save")
        if save is not None:
            yield family, _run([save]).stdout


def _ours_in(saved: str) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """From ``iptables-save`` output: our chains by table, and the rules of other chains
    that jump to them (as ``(table, argv of -A)``)."""
    table = ""
    chains: dict[str, list[str]] = {}
    rules: list[tuple[str, list[str]]] = []
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if _ours(name):
                chains.setdefault(table, []).append(name)
        elif line.startswith("-A "):
            spec = shlex.split(line)
            chain = spec[1]
            target = spec[spec.index("-j") + 1] if "-j" in spec else ""
            if not _ours(chain) and _ours(target):
                rules.append((table, spec))
    return chains, rules


# -- network namespaces, links, mounts ------------------------------------------------------
NETNS_DIR = "/run/netns"


def is_mount_point(path: str) -> bool:
    return any(
        line.split()[4] == path for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


def ensure_netns_dir() -> None:
    """Make /run/netns a shared mount of itself before containerd puts pods' namespaces there.

    ``ip netns add`` does this itself when /run/netns is not a mount point yet; if
    it did so while pods run, it would hide their namespace mounts under the new
    one, and containerd could no longer remove them (``unlinkat ...: device or
    resource busy``, pods stuck in Terminating). Doing it first makes any later
    ``ip netns`` harmless.
    """
    if is_mount_point(NETNS_DIR):
        return
    os.makedirs(NETNS_DIR, exist_ok=True)
    _run(["mount", "--bind", NETNS_DIR, NETNS_DIR], check=True)
    _run(["mount", "--make-shared", NETNS_DIR], check=True)


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def _netns() -> set[str]:
    try:
        return {p.name for p in Path(NETNS_DIR).iterdir()}
    except FileNotFoundError:
        return set()


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def netns_on_bridge(bridge: str) -> set[str]:
    """Names of the namespaces at the other end of the veths on ``bridge`` (this namespace).

    ``ip link`` names a veth's peer namespace (``link-netns cni-...``) by asking the
    kernel for its id relative to this namespace, so the answer is exact: a pod
    namespace of another cluster (another network namespace, another bridge) never
    matches, whether or not a process uses it at the moment.
    """
    out = _run(["ip", "-o", "link", "show", "master", bridge]).stdout
    found = set()
    for line in out.splitlines():
        words = line.split()
        if "link-netns" in words[:-1]:
            found.add(words[words.index("link-netns") + 1])
    return found


def our_netns(layout: Layout) -> list[str]:
    """Pod network namespaces (``cni-*``) of this cluster.

    Those a process in the cluster's cgroups uses, and those whose veth is on the
    cluster's pod bridge (pods killed without cleanup: the namespace stays mounted
    and keeps its veth). /run/netns is shared by every cluster on the machine, so
    a namespace no process uses is *not* taken for ours: another cluster's
    containerd creates each pod's namespace before its first process joins it.
    """
    ours = {_ns_inode(f"/proc/{pid}/ns/net") for pid in cgroup_pids(layout)}
    attached = netns_on_bridge(layout.network.pod_bridge)
    found = []
    nsfs = _nsfs_dev()
    for name in _netns():
        if not name.startswith("cni-"):
            continue
        try:
            info = os.stat(f"{NETNS_DIR}/{name}")
        except OSError:
            continue
        if info.st_dev != nsfs:
            continue  # a plain file: no namespace is mounted there (any more)
        if info.st_ino in ours or name in attached:
            found.append(name)
    return sorted(found)


def netns_exists(name: str) -> bool:
    try:
        return os.stat(f"{NETNS_DIR}/{name}").st_dev == _nsfs_dev()
    except OSError:
        return False


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points below any of ``roots`` (deepest first)."""
    prefixes = [str(r.resolve()) for r in roots]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_all(roots: Iterable[Path]) -> None:
    for _ in range(3):
        points = mounts_under(roots)
        if not points:
            return
        for point in points:
            if _run(["umount", point]).returncode != 0:
                _run(["umount", "-l", point])


def remove_netns(names: Iterable[str]) -> None:
    for name in names:
        path = Path(NETNS_DIR) / name
        if _run(["ip", "netns", "delete", name]).returncode != 0:
            _run(["umount", "-l", str(path)])
            with contextlib.suppress(OSError):
                path.unlink()


def veths_on(bridge: str) -> list[str]:
    out = _run(["ip", "-o", "link", "show", "type", "veth"]).stdout
    return [
        line.split(":")[1].strip().split("@")[0]
        for line in out.splitlines()
        if f" master {bridge} " in line
    ]


def remove_links(layout: Layout) -> None:
    net = layout.network
    for veth in veths_on(net.pod_bridge):
        _run(["ip", "link", "delete", veth])
    for link in (net.pod_bridge, net.node_interface):
        if link_exists(link):
            _run(["ip", "link", "delete", link])


# -- restore -------------------------------------------------------------------------
def restore(layout: Layout) -> None:
    """Put back the sysctls and remove host directories that did not exist before."""
    record = _load_snapshot(layout)
    sysctls = record.get("sysctls", {})
    assert isinstance(sysctls, dict)
    for name, value in sysctls.items():
        write_sysctl(name, str(value))
    dirs = record.get("dirs", {})
    assert isinstance(dirs, dict)
    logs = str(layout.pod_logs.resolve())
    containers = Path("/var/log/containers")
    if containers.is_dir():
        for link in containers.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(logs):
                link.unlink()
    netns_left = os.path.isdir(NETNS_DIR) and any(Path(NETNS_DIR).iterdir())
    if not record.get("netns_mounted", False) and is_mount_point(NETNS_DIR) and not netns_left:
        _run(["umount", NETNS_DIR])
    for path, existed in dirs.items():
        if not existed and os.path.isdir(path):
            if path == NETNS_DIR and (netns_left or is_mount_point(NETNS_DIR)):
                continue
            shutil.rmtree(path, ignore_errors=True)
    # containerd's shim sockets of this cluster (the directory is shared by design).
    layout.host_snapshot.unlink(missing_ok=True)


def changed_sysctls(layout: Layout) -> list[str]:
    record = _load_snapshot(layout, machine_record=False)
    if not record:
        return []
    now = read_sysctls()
    sysctls = record.get("sysctls", {})
    assert isinstance(sysctls, dict)
    return [f"{k}={now.get(k)} (was {v})" for k, v in sysctls.items() if now.get(k) != v]
