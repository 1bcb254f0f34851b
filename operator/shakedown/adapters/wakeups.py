"""Who to wake when something changes: one registry of wake-up events for both kinds.

Each runner registers one ``asyncio.Event`` under its object's key; kopf's
watch handlers set it. An InfraRollout also follows namespaces (its own, its
shadow, where its checks run), so news about any pod or workload there wakes
it. Setting an event that is already set changes nothing, which is what makes
a burst of watch events coalesce into one more step.

An ``asyncio.Event`` belongs to its event loop: kopf runs synchronous
handlers in worker threads, and an Event set from one of those would wake its
waiter only whenever the loop next woke for another reason. So a wake-up from
another thread is handed to the loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

#: (kind, namespace, name): which object a runner or a wake-up is for.
Key = tuple[str, str, str]


class Wakers:
    """Who to wake when something changes: one object, or all following a namespace."""

    def __init__(self) -> None:
        self._by_key: dict[Key, asyncio.Event] = {}
        self._by_namespace: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None

    def register(self, key: Key) -> asyncio.Event:
        with contextlib.suppress(RuntimeError):  # no running loop: a unit test's direct call
            self._loop = asyncio.get_running_loop()
        return self._by_key.setdefault(key, asyncio.Event())

    def follow(self, key: Key, namespace: str | None) -> None:
        """Wake ``key`` on news from ``namespace`` too (its own, a shadow, a check's)."""
        event = self._by_key.get(key)
        if event is not None and namespace:
            self._by_namespace[namespace].add(event)

    def unregister(self, key: Key, event: asyncio.Event) -> None:
        if self._by_key.get(key) is event:
            del self._by_key[key]
        for events in self._by_namespace.values():
            events.discard(event)

    def wake(self, key: Key) -> None:
        event = self._by_key.get(key)
        if event is not None:
            self._set(event)

    def wake_namespace(self, namespace: str | None) -> None:
        for event in tuple(self._by_namespace.get(namespace or "", ())):
            self._set(event)

    def _set(self, event: asyncio.Event) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)
