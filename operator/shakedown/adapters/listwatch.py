"""List, then follow every change from that very list; list again when the server forgot it.

One loop for the front-ends that follow shakedown's objects outside kopf:
``shakedown get --watch``, ``shakedown wait`` and the dashboard's cards.

A watch must start from the resourceVersion of the list whose objects were
shown; starting from any later list loses the changes made in between (issue
13: a test hung for 900 s on exactly that). A watch the server ends (its
``timeoutSeconds``) is resumed from the last version seen. When the server has
forgotten that version (410 Gone, after a long pause or a compaction) the only
correct move is to list again, show the fresh state whole, and follow from the
new list.

``follow`` is the loop, independent of the API client so it is unit tested with
a fake ``Source``; ``CustomObjects`` is the thin adapter for shakedown's kinds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiException

Obj = dict[str, Any]

#: Server-side end of one watch request; the loop then resumes from the last version seen.
WATCH_SECONDS = 60
#: (connect, read) seconds: a connection that went quiet longer than a watch is dead.
READ_TIMEOUT = (5, WATCH_SECONDS + 20)
HTTP_GONE = 410


class Gone(Exception):
    """The resourceVersion to resume from is too old (HTTP 410); list again."""


@dataclass(frozen=True)
class Listing:
    """The objects of one list call and the resourceVersion to watch from."""

    items: list[Obj]
    resource_version: str


class Source(Protocol):
    """Where the objects come from (the API server, or a test's fake)."""

    def list(self) -> Listing: ...

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
        """(event type, object) after ``resource_version`` until the server ends the
        watch; raises ``Gone`` when that version is too old."""
        ...


def follow(
    source: Source,
    listing: Listing | None = None,
    *,
    on_listed: Callable[[Listing], None],
    on_event: Callable[[str, Obj], None],
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """Call ``on_event(type, object)`` for every change after ``listing``, until ``stopped()``.

    Without a ``listing`` the loop lists first. Every list it makes is passed to
    ``on_listed`` whole. Bookmarks only move the resume point. Errors from the
    source or a callback (Ctrl-C included) end the loop and reach the caller.
    """
    if listing is None:
        listing = source.list()
        on_listed(listing)
    version = listing.resource_version
    while not stopped():
        try:
            for kind, obj in source.watch(version):
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    on_event(kind, obj)
                if stopped():
                    return
        except Gone:
            listing = source.list()
            version = listing.resource_version
            on_listed(listing)


@dataclass(frozen=True)
class CustomObjects:
    """One of our kinds, in one namespace or (``namespace=None``) all; optionally one name."""

    api: Any
    """A ``CustomObjectsApi`` (``kubeclient.custom()``)."""
    plural: str
    namespace: str | None
    name: str | None = None
    deadline: float | None = None
    """``time.monotonic()`` after which a watch returns at once (``shakedown wait --timeout``)."""

    def _call(self, **kwargs: Any) -> Any:
        if self.name:
            kwargs["field_selector"] = f"metadata.name={self.name}"
        if self.namespace is None:
            return self.api.list_cluster_custom_object(GROUP, VERSION, self.plural, **kwargs)
        return self.api.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, **kwargs
        )

    def list(self) -> Listing:
        listed = self._call(_request_timeout=READ_TIMEOUT)
        items = sorted(
            listed.get("items") or [],
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        return Listing(items=items, resource_version=str(listed["metadata"]["resourceVersion"]))

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
        seconds = WATCH_SECONDS
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return
            seconds = max(1, min(WATCH_SECONDS, math.ceil(left)))
        stream = kubeclient.watch()
        try:
            # timeout_seconds also turns off the client's own single 410 retry,
            # which would resume from the same too-old version.
            for event in stream.stream(
                self._call,
                resource_version=resource_version,
                timeout_seconds=seconds,
                allow_watch_bookmarks=True,
                _request_timeout=READ_TIMEOUT,
            ):
                yield str(event.get("type")), event.get("object") or {}
        except ApiException as exc:  # the client turns an ERROR event into this
            if exc.status == HTTP_GONE:
                raise Gone(str(exc.reason)) from None
            raise
        finally:
            stream.stop()
