"""Who to wake when something changes: one registry of wake-up events for both kinds.

Each runner registers one ``asyncio.Event`` under its object's key; kopf's
watch handlers set it. An InfraRollout also follows namespaces (its own, its
shadow, where its checks run), so news about any pod or workload there wakes
it. Setting an event that is already set changes nothing, which is what makes
a burst of watch events coalesce into one more step.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

#: (kind, namespace, name): which object a runner or a wake-up is for.
Key = tuple[str, str, str]


class Wakers:
    """Who to wake when something changes: one object, or all following a namespace."""

    def __init__(self) -> None:
        self._by_key: dict[Key, asyncio.Event] = {}
        self._by_namespace: dict[str, set[asyncio.Event]] = defaultdict(set)

    def register(self, key: Key) -> asyncio.Event:
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
            event.set()

    def wake_namespace(self, namespace: str | None) -> None:
        for event in self._by_namespace.get(namespace or "", ()):
            event.set()
