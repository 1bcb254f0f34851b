"""Job checks hear that their Job finished from one shared watch, not from a poll each.

A Job check (``checks.job``) may wait ten minutes for its Job. It used to GET
the Job every second, so 1,000 rollouts in such a check made 1,000 requests
a second. Now each waiting check subscribes here, and one label-filtered
watch of check Jobs (``CHECK_LABEL``), cluster-wide, wakes the checks whose
Job an event shows finished (Complete or Failed) or deleted. The woken check
then GETs its Job, which stays the source of truth, and it GETs once a
minute anyway in case an event was missed.

Why one shared watch and not one per check (``Follow`` with
``fieldSelector=metadata.name=<job>``): a watch holds a connection and a
thread for its whole life, and is renewed every minute or so. A watch per
check is 1,000 sockets, 1,000 threads and 1,000 renewals a minute for 1,000
waiting checks. One shared watch is one of each, however many checks wait.
No waiter, no watch: it starts with the first waiting check and stops with
the last (issue 11: an object costs nothing without news). It keeps no
objects; an event only decides whom to wake.

The watch runs in a daemon thread of its own. It never holds one of the
event loop's executor workers, which every step shares
(``handlers.runners.WORKERS``). A waiter's ``wake`` is called from that
thread (the check hands the news to its loop with ``call_soon_threadsafe``).

Credentials that may not list Jobs in every namespace (a namespaced install;
asked once with a SelfSubjectAccessReview, as ``adapters.watchcache`` does)
get one watch per namespace that has waiters, shared by the checks there. A
watch that is refused (401/403/404) wakes its waiters, and they fall back to
a slow poll. A watch whose connection fails is retried every
``RETRY_SECONDS``, and its waiters poll slowly meanwhile; its next list wakes
every waiter whose Job finished in between.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.watching import LISTED, Follow
from shakedown.checks.job import ending
from shakedown.planning.infrarollout.objects import CHECK_LABEL

log = logging.getLogger("shakedown.jobwatch")

Obj = dict[str, Any]
Wake = Callable[[], None]
#: (namespace, name) of a Job.
Key = tuple[str, str]
#: Longest single watch request; the server ends it and it is resumed.
WATCH_SECONDS = 300
#: Seconds between attempts after a list or watch failed.
RETRY_SECONDS = 2.0
#: Statuses that say these credentials may not watch there: poll instead.
REFUSED = (401, 403, 404)
#: How the watches' threads are named (then the namespace, or "cluster").
THREAD_NAME = "check jobs"


class _Scope:
    """One watch (cluster-wide when ``namespace`` is None) and the checks that wait on it."""

    def __init__(self, conn: Connection, namespace: str | None) -> None:
        self.namespace = namespace
        where = f"/namespaces/{namespace}" if namespace else ""
        self.follow = Follow(conn, f"/apis/batch/v1{where}/jobs", {"labelSelector": CHECK_LABEL})
        self.follow.watch_seconds = WATCH_SECONDS
        self.waiters: dict[Key, list[Wake]] = {}
        self.refused = False
        """The watch was refused: its waiters poll until the last leaves."""
        self.failing = False
        """The last list or watch failed: its waiters poll until a list succeeds."""
        self.thread: threading.Thread | None = None


class JobWatch:
    """What ``checks.job`` subscribes to (``checks.kube.JobNews``): one per client."""

    def __init__(self, conn: Connection, may_list: Callable[[], bool] | None = None) -> None:
        self.conn = conn
        self.may_list = may_list
        """Whether these credentials may list and watch Jobs in every namespace; None: yes."""
        self._everywhere: bool | None = None if may_list is not None else True
        self._scopes: dict[str | None, _Scope] = {}
        self._lock = threading.Lock()

    def subscribe(self, namespace: str, name: str, wake: Wake) -> Subscription:
        """Call ``wake`` when Job ``namespace/name`` may have finished, until closed.

        Blocks only the first time, while the API server says whether Jobs may
        be watched in every namespace.
        """
        where = None if self._may_list_everywhere() else namespace
        with self._lock:
            scope = self._scopes.get(where)
            if scope is None:
                scope = self._scopes[where] = _Scope(self.conn, where)
                scope.thread = threading.Thread(
                    target=self._run,
                    args=(scope,),
                    name=f"{THREAD_NAME} {where or 'cluster'}",
                    daemon=True,
                )
                scope.thread.start()
            scope.waiters.setdefault((namespace, name), []).append(wake)
        return Subscription(self, scope, (namespace, name), wake)

    def leave(self, scope: _Scope, key: Key, wake: Wake) -> None:
        """One waiter is gone; the last one out stops the watch (its socket is closed)."""
        with self._lock:
            wakes = scope.waiters.get(key) or []
            if wake in wakes:
                wakes.remove(wake)
            if not wakes:
                scope.waiters.pop(key, None)
            if scope.waiters:
                return
            if self._scopes.get(scope.namespace) is scope:
                del self._scopes[scope.namespace]
        scope.follow.stop()

    def _may_list_everywhere(self) -> bool:
        if self._everywhere is None:
            assert self.may_list is not None
            try:
                self._everywhere = bool(self.may_list())
            except Exception as exc:  # asked again next time; meanwhile, a watch per namespace
                log.info("cannot tell whether Jobs may be watched everywhere: %s", exc)
                return False
            if not self._everywhere:
                log.info("Jobs may not be watched in every namespace: one watch per namespace")
        return self._everywhere

    # ---- the watch, in its own thread, until the last waiter leaves
    def _run(self, scope: _Scope) -> None:
        follow = scope.follow
        follow.on_list = lambda items: self._listed(scope, items)
        while not follow.stopped:
            try:
                for kind, obj in follow.events():
                    if kind != LISTED:  # a list is judged whole by _listed
                        self._event(scope, kind, obj)
            except ApiError as exc:
                if exc.status in REFUSED:
                    log.info(
                        "cannot watch Jobs in %s (%s): checks poll",
                        scope.namespace or "every namespace",
                        exc.reason,
                    )
                    scope.refused = True
                    self._wake(scope, None)
                    return
                self._failed(scope, exc)
            except Exception as exc:  # connection trouble: list again shortly
                self._failed(scope, exc)
            follow.pause(RETRY_SECONDS)

    def _failed(self, scope: _Scope, exc: Exception) -> None:
        """The waiters poll until a list succeeds; woken once, so they start now."""
        if scope.follow.stopped:
            return
        log.debug("watch of check Jobs failed: %s", exc)
        if not scope.failing:
            scope.failing = True
            self._wake(scope, None)

    def _listed(self, scope: _Scope, items: list[Obj]) -> None:
        """A (re)list: wake the waiters whose Job finished before the watch could say so."""
        scope.failing = False
        for item in items:
            if ending(item) is not None:
                self._wake(scope, _key(item))

    def _event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        if kind == "DELETED" or ending(obj) is not None:
            self._wake(scope, _key(obj))

    def _wake(self, scope: _Scope, key: Key | None) -> None:
        """Wake the waiters of one Job (all of them when ``key`` is None)."""
        with self._lock:
            if key is None:
                wakes = [wake for found in scope.waiters.values() for wake in found]
            else:
                wakes = list(scope.waiters.get(key) or ())
        for wake in wakes:
            wake()


class Subscription:
    """One check's interest in one Job (``checks.kube.Subscription``)."""

    def __init__(self, watch: JobWatch, scope: _Scope, key: Key, wake: Wake) -> None:
        self._watch = watch
        self._scope = scope
        self._key = key
        self._wake = wake
        self._closed = False

    @property
    def watching(self) -> bool:
        return not (self._scope.refused or self._scope.failing)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._watch.leave(self._scope, self._key, self._wake)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
