"""The machine-wide owner record: round trip, and when its owner counts as alive.

A dead owner's network is taken over by ``up`` from another state directory
(``tests/cluster/test_local_takeover.py``), so "alive" must never be fooled by a
PID the kernel reused, and an ``up`` or ``down`` running in the owner's state
directory (holding its lock) must count as alive.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from shakedown.localcluster import owner, procs
from shakedown.localcluster.layout import Layout


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    monkeypatch.setenv("SHAKEDOWN_RUN_DIR", str(folder))
    return folder


def layout(state: Path) -> Layout:
    return Layout(repo=state.parent, state=state, cache=state.parent / "cache")


def me() -> tuple[int, int]:
    started = procs.start_time(os.getpid())
    assert started is not None
    return os.getpid(), started


def test_record_round_trip_and_garbage() -> None:
    record = owner.Owner(
        state="/x/.shakedown",
        cgroup_root="shakedown",
        claimant=(12, 34),
        processes={"etcd": (56, 78)},
        host={"sysctls": {"net.ipv4.ip_forward": "0"}},
    )
    assert owner.Owner.from_json(record.to_json()) == record
    assert owner.Owner.from_json("not json") is None
    assert owner.Owner.from_json('{"state": 1, "cgroup_root": "x"}') is None


def test_alive_needs_pid_and_start_time(tmp_path: Path) -> None:
    pid, started = me()
    live = owner.Owner(state=str(tmp_path / "a"), cgroup_root="c", processes={"etcd": me()})
    assert [p.pid for p in live.alive()] == [pid]
    reused = owner.Owner(
        state=str(tmp_path / "a"), cgroup_root="c", processes={"etcd": (pid, started + 1)}
    )
    assert reused.alive() == []
    # PID files in the owner's state directory count too (clusters started before records).
    (tmp_path / "a" / "pids").mkdir(parents=True)
    (tmp_path / "a" / "pids" / "kubelet.pid").write_text(f"{pid} {started}\n")
    assert [p.name for p in reused.alive()] == ["kubelet"]


def test_busy_while_someone_holds_the_owners_lock(tmp_path: Path) -> None:
    state = tmp_path / "a"
    record = owner.Owner(state=str(state), cgroup_root="c")
    assert not record.busy()  # no state directory at all
    state.mkdir()
    with (state / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert record.busy()
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert not record.busy()


def test_release_removes_only_its_own_record(run_dir: Path, tmp_path: Path) -> None:
    a, b = layout(tmp_path / "a"), layout(tmp_path / "b")
    owner.write(owner.Owner.new(a))
    owner.add_process(a, procs.Tracked("etcd", *me()))
    owner.add_process(b, procs.Tracked("kubelet", *me()))  # not b's record: ignored
    owner.set_host(a, {"sysctls": {}})
    record = owner.read()
    assert record is not None and record.names(a) and not record.names(b)
    assert set(record.processes) == {"etcd"} and record.host == {"sysctls": {}}
    assert owner.host_of(b) is None
    owner.release(b)
    assert owner.read() == record
    owner.release(a)
    assert owner.read() is None
    assert owner.record_path().parent == run_dir
