"""One watch per kind, shared by every browser: the cards, kept current, fanned out.

A ``KindWatch`` thread lists and watches one kind with the caller's credentials
and renders each object's card once per change; the ``Hub`` (on the event
loop) keeps the latest card of every object and the state of each watch, and
pushes changes to each connected page's queue. However many pages are open,
the API server sees one watch per kind. When the connection to the API server
drops, or it refuses the list, the state says so (the server's own words) and
the thread retries with a growing pause, relisting when it is back. Listing and
following are ``adapters.listwatch``, the loop ``shakedown get --watch`` uses too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shakedown.adapters.listwatch import Listing, Obj, Source, follow
from shakedown.dashboard.actions import api_message


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

        self._pause = 0.5

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                follow(
                    self.source,
                    on_listed=self._listed,
                    on_event=self._changed,
                    stopped=self.stop.is_set,
                )
            except Exception as exc:  # every failure is shown, and retried
                if getattr(exc, "status", None):
                    text = f"the API server refused to list {self.kind}: {api_message(exc)}"
                else:
                    text = f"lost the connection to the API server ({type(exc).__name__}); retrying"
                self.hub.post(self.hub.set_state, self.kind, False, text)
                self.stop.wait(self._pause)
                self._pause = min(self._pause * 2, self.MAX_PAUSE)

    def _listed(self, listing: Listing) -> None:
        self._pause = 0.5  # the API server answers again
        cards = {self.card.id(o): (self.card.key(o), self.card.html(o)) for o in listing.items}
        self.hub.post(self.hub.replace_all, self.kind, cards)
        self.hub.post(self.hub.set_state, self.kind, True, "")

    def _changed(self, type_: str, obj: Obj) -> None:
        if type_ == "DELETED":
            self.hub.post(self.hub.remove, self.kind, self.card.id(obj))
        else:
            card = self.card.id(obj), self.card.key(obj), self.card.html(obj)
            self.hub.post(self.hub.upsert, self.kind, *card)
