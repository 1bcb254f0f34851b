"""The pod cgroups of the local cluster: made before the kubelet starts, removed by ``down``.

The kubelet runs pods under one cgroup root of the cluster's own (cgroup v1
here), so everything the pods started can be found, and removed, by that root.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from shakedown.localcluster.layout import Layout


def cgroup_dirs(layout: Layout) -> list[Path]:
    """The cluster's cgroup in each mounted v1 hierarchy that has it."""
    root = Path("/sys/fs/cgroup")
    name = layout.network.cgroup_root
    return [h / name for h in sorted(root.iterdir()) if (h / name).is_dir()]


def ensure_cgroups(layout: Layout) -> None:
    """Create the kubelet's cgroup root in every v1 hierarchy (cpuset needs cpus/mems)."""
    name = layout.network.cgroup_root
    for hierarchy in sorted(Path("/sys/fs/cgroup").iterdir()):
        if hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
            continue
        target = hierarchy / name
        target.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (target / knob).read_text().strip():
                    (target / knob).write_text((hierarchy / knob).read_text())


def cgroup_pids(layout: Layout) -> list[int]:
    pids: set[int] = set()
    for top in cgroup_dirs(layout):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in procs.read_text().split())
    return sorted(pids)


def remove_cgroups(layout: Layout) -> None:
    for top in cgroup_dirs(layout):
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for sub in [*dirs, top]:
            with contextlib.suppress(OSError):
                sub.rmdir()
