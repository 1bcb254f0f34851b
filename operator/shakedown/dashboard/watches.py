"""One watch per kind, shared by every browser: the cards, kept current, fanned out.

A ``KindWatch`` thread lists and watches one kind with the caller's credentials
and renders each object's card once per change; the ``Hub`` (on the event
loop) keeps the latest card of every object and the state of each watch, and
pushes changes to each connected page's queue. However many pages are open,
the API server sees one watch per kind. When the connection to the API server
drops, or it refuses the list, the state says so (the server's own words) and
the thread retries with a growing pause, relisting when it is back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shakedown.dashboard.actions import api_message

Obj = dict[str, Any]


@dataclass(frozen=True)
class Push:
    """One Server-Sent Event: its name and JSON data."""

    event: str
    data: dict[str, Any]


class Hub:
    """The latest card of every object and each watch's state; runs on the event loop."""

    QUEUE_SIZE = 500

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cards: dict[str, dict[str, tuple[tuple[str, str], str]]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self._queues: set[asyncio.Queue[Push | None]] = set()

    # -- browsers
    def subscribe(self) -> asyncio.Queue[Push | None]:
        queue: asyncio.Queue[Push | None] = asyncio.Queue(self.QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Push | None]) -> None:
        self._queues.discard(queue)

    def snapshot(self, kind: str) -> list[Push]:
        """What a page that just connected needs: the state and every card of its kind."""
        pushes = [Push("state", self.state_of(kind))]
        for card, (key, html) in sorted(self.cards.get(kind, {}).items(), key=lambda i: i[1][0]):
            pushes.append(Push("card", {"kind": kind, "id": card, "key": list(key), "html": html}))
        return pushes

    def state_of(self, kind: str) -> dict[str, Any]:
        return self.states.get(kind, {"kind": kind, "ok": None, "message": ""})

    def sorted_cards(self, kind: str) -> list[str]:
        return [html for key, html in sorted(self.cards.get(kind, {}).values())]

    def _send(self, push: Push) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(push)
            except asyncio.QueueFull:  # a page that stopped reading: it reconnects and resyncs
                self._queues.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    # -- watch threads (through ``post``)
    def post(self, method: Callable[..., None], *args: Any) -> None:
        """Run ``method(*args)`` on the event loop (thread-safe)."""
        self.loop.call_soon_threadsafe(method, *args)

    def set_state(self, kind: str, ok: bool | None, message: str) -> None:
        """``ok``: True when the watch runs, False when it cannot, None before the first try."""
        state = {"kind": kind, "ok": ok, "message": message}
        if self.states.get(kind) != state:
            self.states[kind] = state
            self._send(Push("state", state))

    def upsert(self, kind: str, card: str, key: tuple[str, str], html: str) -> None:
        cards = self.cards.setdefault(kind, {})
        if cards.get(card) != (key, html):
            cards[card] = (key, html)
            self._send(Push("card", {"kind": kind, "id": card, "key": list(key), "html": html}))

    def remove(self, kind: str, card: str) -> None:
        if self.cards.get(kind, {}).pop(card, None) is not None:
            self._send(Push("card", {"kind": kind, "id": card, "key": [], "html": ""}))

    def replace_all(self, kind: str, cards: dict[str, tuple[tuple[str, str], str]]) -> None:
        for card in set(self.cards.get(kind, {})) - set(cards):
            self.remove(kind, card)
        for card, (key, html) in cards.items():
            self.upsert(kind, card, key, html)


class Source(Protocol):
    """Where a kind's objects come from (the API server, or a test's fake)."""

    def list(self) -> tuple[list[Obj], str]:
        """Every object, and the resourceVersion to watch from."""

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
        """(event type, object) until the watch ends."""


@dataclass(frozen=True, kw_only=True)
class Card:
    """How a watch turns an object into its card (may do I/O: it runs in the thread)."""

    id: Callable[[Obj], str]
    key: Callable[[Obj], tuple[str, str]]
    html: Callable[[Obj], str]


class KindWatch(threading.Thread):
    """Lists and watches one kind until ``stop`` is set, posting to the hub."""

    MAX_PAUSE = 8.0

    def __init__(
        self, *, kind: str, source: Source, card: Card, hub: Hub, stop: threading.Event
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.kind, self.source, self.card, self.hub, self.stop = kind, source, card, hub, stop

    def run(self) -> None:
        pause = 0.5
        while not self.stop.is_set():
            try:
                self._list_and_watch()
                pause = 0.5
                continue
            except Exception as exc:  # every failure is shown, and retried
                status = getattr(exc, "status", None)
                if status == 410:  # the watch fell too far behind: list again, nothing is wrong
                    continue
                if status:
                    text = f"the API server refused to list {self.kind}: {api_message(exc)}"
                else:
                    text = f"lost the connection to the API server ({type(exc).__name__}); retrying"
                self.hub.post(self.hub.set_state, self.kind, False, text)
            self.stop.wait(pause)
            pause = min(pause * 2, self.MAX_PAUSE)

    def _list_and_watch(self) -> None:
        items, version = self.source.list()
        cards = {self.card.id(o): (self.card.key(o), self.card.html(o)) for o in items}
        self.hub.post(self.hub.replace_all, self.kind, cards)
        self.hub.post(self.hub.set_state, self.kind, True, "")
        for type_, obj in self.source.watch(version):
            if self.stop.is_set():
                return
            if type_ == "ERROR":
                return  # e.g. 410 Gone: list again
            if type_ == "DELETED":
                self.hub.post(self.hub.remove, self.kind, self.card.id(obj))
            else:
                self.hub.post(
                    self.hub.upsert,
                    self.kind,
                    self.card.id(obj),
                    self.card.key(obj),
                    self.card.html(obj),
                )
