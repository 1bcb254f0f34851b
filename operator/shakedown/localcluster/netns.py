"""Pod network namespaces and the mounts under the state directory, found and removed.

/run/netns is shared by every cluster on the machine, so "ours" is decided
from this cluster's cgroups and pod bridge, never from a name alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from shakedown.localcluster.cgroups import cgroup_pids
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.procs import command

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
    command(["mount", "--bind", NETNS_DIR, NETNS_DIR], check=True)
    command(["mount", "--make-shared", NETNS_DIR], check=True)


def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def names() -> set[str]:
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
    out = command(["ip", "-o", "link", "show", "master", bridge]).stdout
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
    for name in names():
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
            if command(["umount", point]).returncode != 0:
                command(["umount", "-l", point])


def remove_netns(names: Iterable[str]) -> None:
    for name in names:
        path = Path(NETNS_DIR) / name
        if command(["ip", "netns", "delete", name]).returncode != 0:
            command(["umount", "-l", str(path)])
            with contextlib.suppress(OSError):
                path.unlink()
