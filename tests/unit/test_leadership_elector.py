"""The elector against an in-memory Lease with the API server's conflict rules.

What matters is order, not speed: a leader cut off from the API server gives up
before the standby takes over; a clean stop hands over; a leader whose Lease
was taken stops. Timings are short (a 1 s Lease) so the tests are quick; the
assertions are about who held what when, never about how long it took.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest

from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.leadership import Elector
from shakedown.planning.leadership import Record, Timing

#: The electors here get their Lease store after construction; they never connect.
NO_CONNECTION = cast(Connection, None)
FAST = Timing(lease_duration=1, renew_deadline=0.6, retry_period=0.1)


class Store:
    """One Lease; writes need the current resourceVersion, like the API server's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.log: list[str] = []  # holders in the order they wrote the Lease

    def write(self, body: dict[str, Any], *, create: bool) -> Any:
        with self.lock:
            if create and self.lease is not None:
                raise ApiError(409, "Conflict")
            if not create:
                if self.lease is None:
                    raise ApiError(404, "NotFound")
                if body["metadata"].get("resourceVersion") != str(self.version):
                    raise ApiError(409, "Conflict")
            self.version += 1
            self.lease = body
            holder = body["spec"]["holderIdentity"]
            if not self.log or self.log[-1] != holder:
                self.log.append(holder)
            return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}

    def record(self) -> Record | None:
        with self.lock:
            if self.lease is None:
                return None
            spec = self.lease["spec"]
            return Record(
                spec["holderIdentity"],
                str(self.version),
                float(spec["leaseDurationSeconds"]),
                spec["leaseTransitions"],
            )


class Leases:
    """One replica's view of the API: the store, unless the replica is cut off."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cut = threading.Event()

    def _reach(self) -> None:
        if self.cut.is_set():
            raise ConnectionError("partitioned")

    def create(self, body: dict[str, Any], **_: Any) -> Any:
        self._reach()
        return self.store.write(body, create=True)

    def replace(self, body: dict[str, Any], **_: Any) -> Any:
        self._reach()
        return self.store.write(body, create=False)

    def get(self, **_: Any) -> dict[str, Any] | None:
        self._reach()
        with self.store.lock:
            if self.store.lease is None:
                return None
            meta = {**self.store.lease["metadata"], "resourceVersion": str(self.store.version)}
            return {**self.store.lease, "metadata": meta}


class Replica(Elector):
    """An elector whose view of the Lease is polled from the store (no watch stream)."""

    def __init__(self, store: Store, me: str) -> None:
        self.lost = threading.Event()
        self.events: list[str] = []
        super().__init__(NO_CONNECTION, "ops", "leader", timing=FAST, me=me, on_lost=self._on_lost)
        self.api = Leases(store)
        self.leases = self.api  # type: ignore[assignment]
        self.store = store

    def _on_lost(self) -> None:
        self.store.log.append(f"{self.me} stopped")
        self.lost.set()

    def _watch(self) -> None:
        while not self._stop_watch.is_set():
            if not self.api.cut.is_set():
                self._see(self.store.record())
            self._stop_watch.wait(0.01)


def start(replica: Replica) -> threading.Thread:
    thread = threading.Thread(target=replica.acquire, daemon=True)
    thread.start()
    return thread


def test_the_first_takes_the_lease_and_the_second_waits() -> None:
    store = Store()
    a, b = Replica(store, "a"), Replica(store, "b")
    a.acquire()
    waiting = start(b)
    waiting.join(FAST.lease_duration * 3)
    assert waiting.is_alive(), "b took a Lease a renews"
    assert store.log == ["a"]
    a.release()
    waiting.join(10)
    assert not waiting.is_alive()
    assert store.log == ["a", "", "b"]
    b.release()


def test_a_leader_cut_off_stops_before_the_standby_takes_over() -> None:
    store = Store()
    a, b = Replica(store, "a"), Replica(store, "b")
    a.acquire()
    waiting = start(b)
    a.api.cut.set()  # a can no longer renew (nor learn that it should stop)
    waiting.join(10)
    assert not waiting.is_alive()
    assert a.lost.is_set()
    assert store.log == ["a", "a stopped", "b"]
    b.release()


def test_a_leader_whose_lease_was_taken_stops() -> None:
    """E.g. resumed after a pause long enough for another replica to take over."""
    store = Store()
    a = Replica(store, "a")
    a.acquire()
    with store.lock:
        assert store.lease is not None
        store.lease = {**store.lease, "spec": {**store.lease["spec"], "holderIdentity": "x"}}
        store.version += 1
    assert a.lost.wait(10)
    assert store.log[-1] == "a stopped"


def test_unsafe_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        Elector(NO_CONNECTION, "ops", "leader", timing=Timing(10, 10, 2))
