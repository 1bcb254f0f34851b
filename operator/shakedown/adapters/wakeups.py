"""Who to wake when something changes, and the latest body the watches delivered.

Each runner registers one ``asyncio.Event`` under its object's key; kopf's
watch handlers set it. An InfraRollout also follows namespaces (its own, its
shadow, where its checks run), so news about any pod or workload there wakes
it, but only while it has something in flight: a runner whose last decision
was idle (nothing in flight, see ``Decision.idle``) is marked so and namespace
news passes it by. Setting an event that is already set changes nothing, which
is what makes a burst of watch events coalesce into one more step.

``Bodies`` keeps the newest body of every object seen, from the kind's own
watch and from the runner's own status writes, so a step reads no object the
watch already delivered, and news that is no news (a repeated body) wakes no one.
It keeps each as compact JSON (a parsed body is some 60 small objects, three
to four times the size) with a digest of its meaning, so a thousand objects
with nothing to do keep a few hundred KiB, and every ``get`` is a fresh copy.

An object whose last decision was idle usually has no runner at all: it sleeps
dormant in the registry (``adapters.runnerset``), and a wake-up for a key with
no event goes to ``on_absent``, which makes its runner again.

An ``asyncio.Event`` belongs to its event loop: kopf runs synchronous
handlers in worker threads, and an Event set from one of those would wake its
waiter only whenever the loop next woke for another reason. So a wake-up from
another thread is handed to the loop (``call_soon_threadsafe``) whole, and
finds its runner there: one that went dormant meanwhile is made again, not
woken through an event nobody waits on any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: (kind, namespace, name): which object a runner or a wake-up is for.
Key = tuple[str, str, str]


class Wakers:
    """Who to wake when something changes: one object, or all following a namespace."""

    def __init__(self) -> None:
        self._by_key: dict[Key, asyncio.Event] = {}
        self._by_namespace: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: set[asyncio.Event] = set()
        self.on_absent: Callable[[Key], None] | None = None
        """Called (in the loop) for a wake-up of a key no runner waits on: a dormant one."""

    def register(self, key: Key) -> asyncio.Event:
        with contextlib.suppress(RuntimeError):  # no running loop: a unit test's direct call
            self._loop = asyncio.get_running_loop()
        return self._by_key.setdefault(key, asyncio.Event())

    def follow(self, key: Key, namespace: str | None) -> None:
        """Wake ``key`` on news from ``namespace`` too (its own, a shadow, a check's)."""
        event = self._by_key.get(key)
        if event is not None and namespace:
            self._by_namespace[namespace].add(event)

    def set_idle(self, key: Key, idle: bool) -> None:
        """An idle object sleeps through namespace news; only its own news wakes it."""
        event = self._by_key.get(key)
        if event is None:
            return
        if idle:
            self._idle.add(event)
        else:
            self._idle.discard(event)

    def unregister(self, key: Key, event: asyncio.Event) -> None:
        if self._by_key.get(key) is event:
            del self._by_key[key]
        for events in self._by_namespace.values():
            events.discard(event)
        self._idle.discard(event)

    def wake(self, key: Key) -> None:
        """Wake ``key``'s runner; a key with none (dormant) goes to ``on_absent``."""
        if self._elsewhere():
            self.soon(self.wake, key)
            return
        event = self._by_key.get(key)
        if event is not None:
            event.set()
        elif self.on_absent is not None:
            self.on_absent(key)

    def wake_namespace(self, namespace: str | None) -> None:
        """Wake every runner following ``namespace`` that has something in flight."""
        if self._elsewhere():
            self.soon(self.wake_namespace, namespace)
            return
        for event in tuple(self._by_namespace.get(namespace or "", ())):
            if event not in self._idle:
                event.set()

    def soon(self, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback`` in the runners' event loop: at once when already there."""
        loop = self._loop
        if self._elsewhere() and loop is not None:
            loop.call_soon_threadsafe(callback, *args)
        else:
            callback(*args)

    def _elsewhere(self) -> bool:
        """Whether this call comes from outside the runners' (open) event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            return asyncio.get_running_loop() is not loop
        except RuntimeError:
            return True


def resource_version(body: Mapping[str, Any]) -> int | None:
    """The body's resourceVersion as a number (etcd's revision), None when it is not one."""
    return _number(_version(body))


def _bookkeeping(key: str, value: object) -> bool:
    """kopf's own annotations: its marker and diff base (which operators before the runners
    judged specs wrote on every object: old objects still carry them) and the progress of
    a handler it retries (JSON, "started")."""
    if key.endswith(("/last-handled-configuration", "/kopf-managed")):
        return True
    return isinstance(value, str) and value.startswith("{") and '"started"' in value


def meaning(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a runner acts on: not kopf's bookkeeping (its annotations, finalizers)."""
    meta = body.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not _bookkeeping(k, v)
    }
    return (
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        sorted((meta.get("labels") or {}).items()),
        sorted(annotations.items()),
        repr(body.get("spec")),
        repr(body.get("status")),
    )


class Bodies:
    """The newest body of every object, from its watch events and from our own writes."""

    def __init__(self) -> None:
        self._by_key: dict[Key, tuple[object, bytes, bytes]] = {}
        """Per object: its resourceVersion as stored, a digest of its ``meaning``, its JSON."""

    def put(self, key: Key, body: Mapping[str, Any]) -> bool:
        """Keep ``body`` unless an equally new or newer one is kept.

        True when it is news: newer, and different in what a runner acts on
        (kopf writing its own annotations or a finalizer is no news).
        """
        version = _version(body)
        kept = self._by_key.get(key)
        if kept is not None:
            old_version = kept[0]
            new, old = _number(version), _number(old_version)
            if new is not None and old is not None and new <= old:
                return False
            if (new is None or old is None) and old_version == version:
                return False
        sense = _digest(meaning(body))
        packed = json.dumps(_kept(body), separators=(",", ":"), ensure_ascii=False).encode()
        self._by_key[key] = (version, sense, packed)
        return kept is None or kept[1] != sense

    def get(self, key: Key) -> dict[str, Any] | None:
        """A fresh copy of the body kept for ``key`` (None when none is)."""
        kept = self._by_key.get(key)
        if kept is None:
            return None
        body: dict[str, Any] = json.loads(kept[2])
        return body

    def drop(self, key: Key) -> None:
        self._by_key.pop(key, None)

    def in_namespace(self, kind: str, namespace: str) -> Iterator[tuple[Key, dict[str, Any]]]:
        for key in [k for k in self._by_key if k[0] == kind and k[1] == namespace]:
            body = self.get(key)  # callers may step between: one dropped meanwhile is skipped
            if body is not None:
                yield key, body


def _digest(sense: tuple[Any, ...]) -> bytes:
    """A short digest of a body's ``meaning``: equal for equal meanings, else (to 2**-128) not."""
    return hashlib.blake2b(repr(sense).encode(), digest_size=16).digest()


def _number(version: object) -> int | None:
    return int(version) if isinstance(version, str) and version.isdigit() else None


def _kept(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy to keep, without what no step reads: ``metadata.managedFields`` (field
    owners) and kopf's bookkeeping annotations (its diff base repeats the whole spec).
    Together they are often the larger part of a body kept per object."""
    kept = dict(body)
    meta = kept.get("metadata")
    if not isinstance(meta, Mapping):
        return kept
    annotations = meta.get("annotations")
    ours = None
    if isinstance(annotations, Mapping):
        ours = {k: v for k, v in annotations.items() if not _bookkeeping(k, v)}
        if len(ours) == len(annotations):
            ours = None
    if "managedFields" in meta or ours is not None:
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        if ours is not None:
            meta["annotations"] = ours
        kept["metadata"] = meta
    return kept


def _version(body: Mapping[str, Any]) -> object:
    return (body.get("metadata") or {}).get("resourceVersion")
