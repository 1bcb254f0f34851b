"""List, then watch from the list's resourceVersion; list again when the watch expired.

The one way shakedown follows objects outside kopf: ``shakedown wait`` follows
one custom object until it settles, and a rollout in SmokeTesting follows the
pods and Events of its shadow namespace (which kopf may not watch when the
operator is limited to some namespaces), so a broken shadow is judged as soon
as its evidence appears rather than at the next poll; and the operator's
caches of what it labelled (``adapters.watchcache``) are kept by it.

Objects are plain dicts as the API server sends them. A watch the server ends
(its ``timeoutSeconds``) is resumed from the last resourceVersion seen; a
``410 Gone`` (that version was compacted) lists afresh, which yields every
object again, so a consumer that decides on the latest object loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

from shakedown.adapters.apiserver import ApiError, Connection, Stream

log = logging.getLogger("shakedown.watching")

Obj = dict[str, Any]
#: Longest single watch request; the server closes it and it is resumed.
WATCH_SECONDS = 60
#: Event type yielded for each object of a (re)list.
LISTED = "LISTED"
HTTP_GONE = 410


class Follow:
    """Follows one collection (``path`` with ``query``: a label selector, say) as LISTED,
    then watch events."""

    #: Longest single watch request of ``events`` without a deadline.
    watch_seconds: int = WATCH_SECONDS
    #: Called with each (re)list's objects before they are yielded: a consumer that
    #: keeps a copy replaces it whole, so what was deleted unseen goes too.
    on_list: Callable[[list[Obj]], None] | None = None

    def __init__(self, conn: Connection, path: str, query: Mapping[str, str] | None = None) -> None:
        self.conn = conn
        self.path = path
        self.query = dict(query or {})
        self._watch: Stream | None = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        """End ``events`` from another thread (the blocked read is interrupted)."""
        self._stopped.set()
        current = self._watch
        if current is not None:
            current.close()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep, but no longer than until ``stop``."""
        self._stopped.wait(seconds)

    def events(self, *, deadline: float | None = None) -> Generator[tuple[str, Obj], None, None]:
        """(type, object) until ``deadline`` (``time.monotonic``) or ``stop``.

        API errors other than 410 are raised to the caller (``ApiError``).
        """
        version = yield from self._list()
        while not self.stopped:
            remaining = self.watch_seconds if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return
            seconds = max(1, min(self.watch_seconds, int(remaining + 0.999)))
            query = {
                **self.query,
                "watch": "true",
                "resourceVersion": version,
                "timeoutSeconds": str(seconds),
                "allowWatchBookmarks": "true",
            }
            try:
                self._watch = self.conn.stream(self.path, query, timeout=seconds + 10)
                if self.stopped:  # stopped while the watch was being opened
                    self._watch.close()
                for event in self._watch:
                    kind = str(event.get("type"))
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        code = int(obj.get("code") or 500)
                        raise ApiError(code, str(obj.get("message") or obj.get("reason") or ""))
                    found = (obj.get("metadata") or {}).get("resourceVersion")
                    if found:
                        version = found
                    if kind == "BOOKMARK":
                        continue
                    yield kind, obj
                    if self.stopped:
                        return
            except ApiError as exc:
                if exc.status != HTTP_GONE:
                    if self.stopped:
                        return
                    raise
                log.debug("watch expired at resourceVersion %s; listing again", version)
                version = yield from self._list()
            finally:
                current, self._watch = self._watch, None
                if current is not None:
                    current.close()

    def _list(self) -> Generator[tuple[str, Obj], None, str]:
        body = self.conn.call("GET", self.path, query=self.query or None) or {}
        items = body.get("items") or []
        if self.on_list is not None:
            self.on_list(items)
        for item in items:
            yield LISTED, item
        return str((body.get("metadata") or {}).get("resourceVersion") or "")


class NamespaceWatch:
    """Calls ``wake`` on every change to the pods and Events of one namespace, until stopped."""

    def __init__(self, conn: Connection, namespace: str, wake: Callable[[], None]) -> None:
        self.namespace = namespace
        self.wake = wake
        self._follows = [
            Follow(conn, f"/api/v1/namespaces/{namespace}/pods"),
            Follow(conn, f"/api/v1/namespaces/{namespace}/events"),
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for follow in self._follows:
            thread = threading.Thread(
                target=self._run, args=(follow,), name=f"watch {self.namespace}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for follow in self._follows:
            follow.stop()

    def _run(self, follow: Follow) -> None:
        while not follow.stopped:
            try:
                for _ in follow.events():
                    self.wake()
            except ApiError as exc:
                if exc.status in (401, 403):
                    log.info("cannot watch in %s: %s", self.namespace, exc.reason)
                    return
                log.debug("watch in %s failed: %s", self.namespace, exc)
            except Exception as exc:  # connection trouble: try again shortly
                if follow.stopped:
                    return
                log.debug("watch in %s failed: %s", self.namespace, exc)
            follow.pause(1.0)
