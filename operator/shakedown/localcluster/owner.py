"""Which state directory owns the cluster network of a network namespace, machine-wide.

Interfaces, iptables chains, pod namespaces and cgroups carry no owner, and the
state directory that made them may be gone: CI kills every process of a work
session without any cleanup, then runs ``make test`` from a fresh clone in
another folder. So before the network is made, ``up`` writes a record under
``/run/shakedown/`` (one per network namespace, keyed by its inode) naming the
state directory, the process doing the ``up``, every component it starts (PID
and start time), its cgroup root and containerd socket, and the host's values
before it changed them. With it, ``up`` from another state directory tells a
live owner (refuse, as before) from a dead one (take over: clean up what it
left, then start fresh), and the dead one's sysctls can be put back even when
its state directory no longer exists.

A process counts as alive only when its PID *and* start time match, so a PID
the kernel reused for something else never keeps a dead cluster "alive", and
nothing is ever signalled by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from shakedown.localcluster import procs
from shakedown.localcluster.filelock import file_lock
from shakedown.localcluster.layout import Layout


def run_dir() -> Path:
    """Where the records live (``SHAKEDOWN_RUN_DIR`` overrides ``/run/shakedown``)."""
    return Path(os.environ.get("SHAKEDOWN_RUN_DIR") or "/run/shakedown")


def netns_id() -> str:
    """This process's network namespace, as ``<device>-<inode>`` of its nsfs file."""
    info = os.stat("/proc/self/ns/net")
    return f"{info.st_dev}-{info.st_ino}"


def record_path() -> Path:
    return run_dir() / f"net-{netns_id()}.json"


_depth = 0


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise readers and writers of this namespace's record (re-entrant in one process)."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    with file_lock(run_dir() / f"net-{netns_id()}.lock"):
        _depth = 1
        try:
            yield
        finally:
            _depth = 0


def _tracked(name: str, value: object) -> procs.Tracked | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return procs.Tracked(name, value[0], value[1])
    return None


def _self() -> tuple[int, int] | None:
    pid = os.getpid()
    started = procs.start_time(pid)
    return None if started is None else (pid, started)


@dataclass(frozen=True)
class Owner:
    """The record: who made the network of this namespace, and how to undo it."""

    state: str
    cgroup_root: str
    claimant: tuple[int, int] | None = None
    processes: dict[str, tuple[int, int]] = field(default_factory=dict)
    host: dict[str, object] | None = None

    @classmethod
    def new(cls, layout: Layout) -> Owner:
        network = layout.network
        return cls(state=str(layout.state), cgroup_root=network.cgroup_root, claimant=_self())

    def names(self, layout: Layout) -> bool:
        return Path(self.state) == layout.state

    def to_json(self) -> str:
        data = {
            "state": self.state,
            "cgroup_root": self.cgroup_root,
            "claimant": list(self.claimant) if self.claimant else None,
            "processes": {k: list(v) for k, v in self.processes.items()},
            "host": self.host,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        try:
            data = json.loads(text)
            state, cgroup_root = data["state"], data["cgroup_root"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(state, str) or not isinstance(cgroup_root, str):
            return None
        claimant = _tracked("claimant", data.get("claimant"))
        found = {}
        raw = data.get("processes")
        for name, value in raw.items() if isinstance(raw, dict) else []:
            proc = _tracked(name, value)
            if proc is not None:
                found[name] = (proc.pid, proc.started)
        host = data.get("host")
        return cls(
            state=state,
            cgroup_root=cgroup_root,
            claimant=(claimant.pid, claimant.started) if claimant else None,
            processes=found,
            host=host if isinstance(host, dict) else None,
        )

    def tracked(self) -> list[procs.Tracked]:
        """Every process the owner recorded, plus those its PID files name (if it still has any)."""
        found = [procs.Tracked(n, pid, st) for n, (pid, st) in self.processes.items()]
        if self.claimant is not None:
            found.append(procs.Tracked("up", *self.claimant))
        found += procs.tracked(Path(self.state) / "pids")
        return found

    def alive(self) -> list[procs.Tracked]:
        """The owner's processes that still run (PID and start time both match)."""
        return [p for p in self.tracked() if p.alive()]

    def busy(self) -> bool:
        """Someone holds the owner's lock (an ``up`` or ``down`` is running there now)."""
        lock = Path(self.state) / "lock"
        if not lock.is_file():
            return False
        with lock.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def read() -> Owner | None:
    """The record of this network namespace, or None."""
    try:
        return Owner.from_json(record_path().read_text())
    except FileNotFoundError:
        return None


def write(owner: Owner) -> None:
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(owner.to_json())
    tmp.replace(path)


def release(layout: Layout) -> None:
    """Remove the record when it names ``layout`` (after ``down`` removed the network)."""
    with locked():
        current = read()
        if current is not None and current.names(layout):
            record_path().unlink(missing_ok=True)


def add_process(layout: Layout, proc: procs.Tracked) -> None:
    """Add a started component to the record (which names ``layout``)."""
    with locked():
        current = read()
        if current is not None and current.names(layout):
            started = {**current.processes, proc.name: (proc.pid, proc.started)}
            write(replace(current, processes=started))


def set_host(layout: Layout, host: dict[str, object]) -> None:
    """Keep the host's values before ``up`` in the record too (the state dir may vanish)."""
    with locked():
        current = read()
        if current is not None and current.names(layout) and current.host is None:
            write(replace(current, host=host))


def host_of(layout: Layout) -> dict[str, object] | None:
    current = read()
    return current.host if current is not None and current.names(layout) else None


__all__ = ["Owner", "add_process", "host_of", "locked", "read", "release", "set_host", "write"]
