"""List, then follow every change from that very list: the loop behind ``--watch``.

A watch must start from the resourceVersion of the list whose objects were
printed; starting from any later list loses the changes made in between (issue
13: a test hung for 900 s on exactly that). When the server has forgotten that
version (410 Gone, after a long pause or a compaction) the only correct move is
to list again, show the fresh state whole, and follow from the new list.

``follow`` is the loop, independent of the API client so it is unit tested with
a fake ``Source``; ``KubeSource`` is the thin adapter for custom objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Obj = Mapping[str, Any]

#: Server-side end of one watch request; the loop then resumes from the last version seen.
WATCH_SECONDS = 240


class Gone(Exception):
    """The resourceVersion to resume from is too old (HTTP 410); list again."""


@dataclass(frozen=True)
class Listing:
    """The objects of one list call and the resourceVersion to watch from."""

    items: list[Obj]
    resource_version: str


class Source(Protocol):
    def list(self) -> Listing: ...

    def watch(self, resource_version: str) -> Iterator[Mapping[str, Any]]:
        """Events after ``resource_version``; raises ``Gone`` when it is too old."""
        ...


def follow(
    source: Source,
    resource_version: str,
    *,
    on_event: Callable[[str, Obj], None],
    on_relist: Callable[[Listing], None],
) -> None:
    """Call ``on_event(type, object)`` for every change after ``resource_version``, forever.

    Bookmarks only move the resume point. Returns only by an exception from a
    callback or the source (Ctrl-C included).
    """
    version = resource_version
    while True:
        try:
            for event in source.watch(version):
                obj: Obj = event.get("object") or {}
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if event.get("type") != "BOOKMARK":
                    on_event(str(event.get("type")), obj)
        except Gone:
            listing = source.list()
            version = listing.resource_version
            on_relist(listing)


@dataclass(frozen=True)
class KubeSource:
    """Custom objects of one plural, in one namespace or all, optionally one name."""

    api: Any
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None = None

    def _call(self, **kwargs: Any) -> Any:
        if self.name:
            kwargs["field_selector"] = f"metadata.name={self.name}"
        if self.namespace is None:
            return self.api.list_cluster_custom_object(
                self.group, self.version, self.plural, **kwargs
            )
        return self.api.list_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, **kwargs
        )

    def list(self) -> Listing:
        listed = self._call()
        items = sorted(
            listed.get("items") or [],
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        return Listing(items=items, resource_version=str(listed["metadata"]["resourceVersion"]))

    def watch(self, resource_version: str) -> Iterator[Mapping[str, Any]]:
        from shakedown.adapters import kubeclient
        from shakedown.adapters.kubeclient import ApiException

        stream = kubeclient.watch()
        try:
            # timeout_seconds also turns off the client's own single 410 retry,
            # which would resume from the same too-old version.
            yield from stream.stream(
                self._call,
                resource_version=resource_version,
                timeout_seconds=WATCH_SECONDS,
                allow_watch_bookmarks=True,
            )
        except ApiException as exc:
            if exc.status == 410:
                raise Gone(str(exc.reason)) from None
            raise
        finally:
            stream.stop()
