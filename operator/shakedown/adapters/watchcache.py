"""What shakedown labels, kept from one list and its watch: lock Leases, shadow namespaces, Jobs.

A settled object (a finished rollout, a refresh with no run) still looks, on
each step, for what it may have left behind: a rollout for its lock Leases and
its shadow namespace, a refresh for its Jobs. At a start with thousands of
them that was a read or two each, all at once. One label-filtered list and
watch per kind, cluster-wide, answers those from memory instead; the labels
are the ones shakedown puts on what it creates (``managed-by=shakedown`` on
lock Leases, ``shakedown.dev/shadow=true`` on shadow namespaces, the
refresh's name on its Jobs).

A cache answers only once its list arrived (``synced``); before that, and for
good when it may not list (a namespaced install's RBAC: 403), callers read as
they did. It trails the API server by a watch event, so callers ask it only
where a stale answer is harmless: objects with nothing in flight, whose next
step acts idempotently on what it finds (release a lock, delete a shadow), or
whose watch event wakes them again when something appears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.watching import Follow

log = logging.getLogger("shakedown.watchcache")

Obj = dict[str, Any]
#: (namespace or "", name)
Key = tuple[str, str]
#: Longest single watch request; the server ends it and it is resumed.
WATCH_SECONDS = 300
#: Seconds between attempts after a failed list or watch.
RETRY_SECONDS = 2.0


def _slim(obj: Mapping[str, Any]) -> Obj:
    """What callers read: metadata without field owners, spec and status."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {k: v for k, v in (("metadata", meta), *_spec_status(obj)) if v is not None}


def _spec_status(obj: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return (("spec", obj.get("spec")), ("status", obj.get("status")))


class Cache:
    """Objects of one kind with one label, cluster-wide, as the last list and watch left them."""

    def __init__(
        self,
        name: str,
        conn: Connection,
        path: str,
        labels: str,
        may_list: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.may_list = may_list
        """Whether these credentials may list and watch them in every namespace (asked once)."""
        self._objects: dict[Key, Obj] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self.follow = Follow(conn, path, {"labelSelector": labels})
        self.follow.watch_seconds = WATCH_SECONDS
        self.follow.on_list = self._replace
        self._thread: threading.Thread | None = None

    @property
    def synced(self) -> bool:
        return self._synced.is_set() and not self.follow.stopped

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"cache {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.follow.stop()

    def get(self, namespace: str | None, name: str) -> Obj | None:
        """The object as last seen; None when absent (ask only when ``synced``)."""
        with self._lock:
            return self._objects.get((namespace or "", name))

    def any_labelled(self, namespace: str, label: str, value: str) -> bool:
        """Whether an object in ``namespace`` has ``label`` = ``value`` (ask only when synced)."""
        with self._lock:
            return any(
                key[0] == namespace and (obj["metadata"].get("labels") or {}).get(label) == value
                for key, obj in self._objects.items()
            )

    # ---- the list and watch (watching.Follow), in a thread of its own
    def _run(self) -> None:
        if self.may_list is not None and not self._allowed():
            return
        while not self.follow.stopped:
            try:
                for kind, obj in self.follow.events():
                    self.apply(kind, obj)
            except ApiError as exc:
                if exc.status in (401, 403, 404):
                    log.info("%s: cannot list or watch (%s): read directly", self.name, exc.reason)
                    self._synced.clear()
                    return
                log.debug("%s: list or watch failed: %s", self.name, exc)
            except Exception as exc:  # connection trouble: list again shortly
                log.debug("%s: list or watch failed: %s", self.name, exc)
            self.follow.pause(RETRY_SECONDS)

    def _allowed(self) -> bool:
        """Ask before listing: a namespaced install's Roles allow no cluster-wide list."""
        assert self.may_list is not None
        try:
            allowed = self.may_list()
        except Exception as exc:  # the review itself failed: read directly, as without a cache
            log.info(
                "%s: cannot tell whether they may be listed (%s): read directly", self.name, exc
            )
            return False
        if not allowed:
            log.info("%s: not allowed to list them in every namespace: read directly", self.name)
        return allowed

    def _replace(self, items: list[Obj]) -> None:
        objects = {_key(item): _slim(item) for item in items}
        with self._lock:
            self._objects = objects
        self._synced.set()

    def apply(self, kind: str, obj: Obj) -> None:
        """One watch event (a listed object is already kept by ``_replace``)."""
        if kind in ("ADDED", "MODIFIED"):
            with self._lock:
                self._objects[_key(obj)] = _slim(obj)
        elif kind == "DELETED":
            with self._lock:
                self._objects.pop(_key(obj), None)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


#: The labels shakedown puts on what it creates (``adapters.workloads``,
#: ``planning.infrarollout.shadow``, ``adapters.jobs``).
LOCK_LABELS = "app.kubernetes.io/managed-by=shakedown"
SHADOW_LABELS = "shakedown.dev/shadow=true"
JOB_LABEL = "shakedown.dev/containerimagerefresh"


class Caches:
    """The operator's caches: lock Leases, shadow namespaces and refresh Jobs."""

    def __init__(self, conn: Connection) -> None:
        def may(group: str, resource: str) -> Callable[[], bool]:
            return lambda: may_list_everywhere(conn, group, resource)

        self.leases = Cache(
            "leases",
            conn,
            "/apis/coordination.k8s.io/v1/leases",
            LOCK_LABELS,
            may("coordination.k8s.io", "leases"),
        )
        self.namespaces = Cache(
            "namespaces", conn, "/api/v1/namespaces", SHADOW_LABELS, may("", "namespaces")
        )
        self.jobs = Cache("jobs", conn, "/apis/batch/v1/jobs", JOB_LABEL, may("batch", "jobs"))

    def start(self) -> None:
        for cache in (self.leases, self.namespaces, self.jobs):
            cache.start()

    def stop(self) -> None:
        for cache in (self.leases, self.namespaces, self.jobs):
            cache.stop()


def may_list_everywhere(conn: Connection, group: str, resource: str) -> bool:
    """Whether these credentials may list and watch ``resource`` in every namespace.

    Two SelfSubjectAccessReviews (any authenticated user may ask), so a
    namespaced install reads directly instead of being refused by RBAC.
    """
    for verb in ("list", "watch"):
        attributes = {"group": group, "resource": resource, "verb": verb}
        review = conn.call(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes},
            },
        )
        if not ((review or {}).get("status") or {}).get("allowed"):
            return False
    return True
