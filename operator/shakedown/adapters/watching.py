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

import json
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiClient, ApiException

log = logging.getLogger("shakedown.watching")

Obj = dict[str, Any]
#: Longest single watch request; the server closes it and it is resumed.
WATCH_SECONDS = 60
#: Event type yielded for each object of a (re)list.
LISTED = "LISTED"
HTTP_GONE = 410


class Follow:
    """Follows one list call (``list_fn(*args, **kwargs)``) as LISTED, then watch events."""

    #: Longest single watch request of ``events`` without a deadline.
    watch_seconds: int = WATCH_SECONDS
    #: Called with each (re)list's objects before they are yielded: a consumer that
    #: keeps a copy replaces it whole, so what was deleted unseen goes too.
    on_list: Callable[[list[Obj]], None] | None = None

    def __init__(self, list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.list_fn = list_fn
        self.args = args
        self.kwargs = kwargs
        self._watch: Any = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        """End ``events`` from another thread (the blocked read is interrupted)."""
        self._stopped.set()
        current = self._watch
        if current is not None:
            current.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep, but no longer than until ``stop``."""
        self._stopped.wait(seconds)

    def events(self, *, deadline: float | None = None) -> Generator[tuple[str, Obj], None, None]:
        """(type, object) until ``deadline`` (``time.monotonic``) or ``stop``.

        API errors other than 410 are raised to the caller.
        """
        version = yield from self._list()
        while not self.stopped:
            remaining = self.watch_seconds if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return
            seconds = max(1, min(self.watch_seconds, int(remaining + 0.999)))
            self._watch = kubeclient.watch()
            try:
                for event in self._watch.stream(
                    self.list_fn,
                    *self.args,
                    resource_version=version,
                    timeout_seconds=seconds,
                    allow_watch_bookmarks=True,
                    deserialize=False,
                    _request_timeout=seconds + 10,
                    **self.kwargs,
                ):
                    obj = event.get("object") or {}
                    found = (obj.get("metadata") or {}).get("resourceVersion")
                    if found:
                        version = found
                    if event.get("type") == "BOOKMARK":
                        continue
                    yield str(event.get("type")), obj
                    if self.stopped:
                        return
            except ApiException as exc:
                if exc.status != HTTP_GONE:
                    raise
                log.debug("watch expired at resourceVersion %s; listing again", version)
                version = yield from self._list()
            finally:
                self._watch = None

    def _list(self) -> Generator[tuple[str, Obj], None, str]:
        response = self.list_fn(*self.args, _preload_content=False, **self.kwargs)
        body = json.loads(response.data or b"{}")
        items = body.get("items") or []
        if self.on_list is not None:
            self.on_list(items)
        for item in items:
            yield LISTED, item
        return str((body.get("metadata") or {}).get("resourceVersion") or "")


class NamespaceWatch:
    """Calls ``wake`` on every change to the pods and Events of one namespace, until stopped."""

    def __init__(self, api: ApiClient, namespace: str, wake: Callable[[], None]) -> None:
        self.namespace = namespace
        self.wake = wake
        core = kubeclient.core(api)
        self._follows = [
            Follow(core.list_namespaced_pod, namespace),
            Follow(core.list_namespaced_event, namespace),
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
            except ApiException as exc:
                if exc.status in (401, 403):
                    log.info("cannot watch in %s: %s", self.namespace, exc.reason)
                    return
                log.debug("watch in %s failed: %s", self.namespace, exc)
            except Exception as exc:  # connection trouble: try again shortly
                if follow.stopped:
                    return
                log.debug("watch in %s failed: %s", self.namespace, exc)
            follow.pause(1.0)
