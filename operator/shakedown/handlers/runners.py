"""The one registry of per-object runtime state, kept in kopf's memo.

Each InfraRollout and ContainerImageRefresh has one ``Runner``
(``adapters.runner``), shared by its loop, its finalizer and the watch
handlers that wake it. They all find it in ``Runners``
(``adapters.runnerset``), made once at startup and put in the operator's
memo: kopf hands every handler a shallow copy of that memo, so they all see
the same registry, and nothing lives in module globals.

A kind's own watch events (``follow``) start its loop, keep its body and wake
it only when the body is new (a dormant one, whose idle loop ended, is made
again: ``adapters.runnerset``); its DELETED event stops it and drops the
object's metric series (most objects carry no finalizer, so kopf's deletion
handlers never run for them). Another instance's objects (``instances``) are
dropped right there: no runner, no body kept, and one relabelled away is
stopped as if deleted.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf

from shakedown import GROUP, VERSION, metrics
from shakedown.adapters import apiserver, memory, watchcache
from shakedown.adapters.driver import Driver
from shakedown.adapters.runner import Runner
from shakedown.adapters.runnerset import AnyRunner, Make, Runners
from shakedown.adapters.wakeups import Bodies, Key, Wakers
from shakedown.adapters.workloads import Kube
from shakedown.api import instances
from shakedown.planning.decision import EventNote

#: Where the registry and the heap trimmer sit in kopf's memo.
MEMO_KEY = "shakedown_runners"
TRIM_KEY = "shakedown_trim"
#: glibc heaps at most, and seconds between handing freed heap back (``adapters.memory``).
HEAPS = 2
TRIM_INTERVAL = 30.0
#: Seconds a stopping operator lets runners finish their step before cancelling them.
STOP_TIMEOUT = 10.0
#: Threads for the steps' blocking I/O.
WORKERS = 8

AnyDriver = Driver[Any, Any, Any, Any]

__all__ = ["AnyRunner", "Make"]


@kopf.on.startup()
async def make_registry(memo: kopf.Memo, **_: Any) -> None:
    """One registry for the operator's lifetime, before any object is seen.

    Steps do their blocking I/O in the event loop's default executor; at a
    start with thousands of objects each waits mostly on the API server, so
    more threads than the default (cores + 4) overlap those waits.
    """
    memory.limit_heaps(HEAPS)
    memory.map_large_blocks()
    memo[MEMO_KEY] = Runners(connect)
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="step")
    )
    memo[TRIM_KEY] = asyncio.create_task(_trim_forever())


async def _trim_forever() -> None:
    """Hand what a burst of steps freed back to the OS (``adapters.memory``).

    First a full garbage collection: what a burst leaves in reference cycles
    (kopf's per-event structures, finished tasks) has aged into the oldest
    generation, which an idle operator, allocating little, would not collect
    for a long time; meanwhile it pins pymalloc's pools and glibc's pages.
    """
    while True:
        await asyncio.sleep(TRIM_INTERVAL)
        gc.collect()
        await asyncio.to_thread(memory.trim)


@kopf.on.cleanup()
async def stop_runners(memo: kopf.Memo, **_: Any) -> None:
    trimming = memo.get(TRIM_KEY)
    if isinstance(trimming, asyncio.Task):
        trimming.cancel()
    found = memo.get(MEMO_KEY)
    if isinstance(found, Runners):
        await found.stop_all(STOP_TIMEOUT)


def registry(memo: Mapping[str, Any]) -> Runners:
    found = memo.get(MEMO_KEY)
    if not isinstance(found, Runners):
        raise RuntimeError("the runner registry is made at startup; it is missing from the memo")
    return found


def connect() -> Kube:
    """The client all runners share, with a pool as large as they use at once."""
    conn = apiserver.connect()
    caches = watchcache.Caches(conn)
    caches.start()
    return Kube(conn, caches)


def kube(memo: Mapping[str, Any]) -> Kube:
    """The one client every runner and handler shares."""
    return registry(memo).kube()


def wakers(memo: Mapping[str, Any]) -> Wakers:
    return registry(memo).wakers


def bodies(memo: Mapping[str, Any]) -> Bodies:
    return registry(memo).bodies


def wake(memo: Mapping[str, Any], kind: str, namespace: str | None, name: str | None) -> None:
    """Wake the runner of one object (kopf gives cluster-scoped names as None)."""
    wakers(memo).wake((kind, namespace or "default", name or ""))


def maker(memo: Mapping[str, Any], build: Callable[[Kube, Wakers], AnyDriver]) -> Make:
    """How to make an object's runner the first time a handler needs it, from its driver."""
    shared = kube(memo)

    def make(wakers: Wakers, bodies: Bodies) -> AnyRunner:
        return Runner(build(shared, wakers), wakers, bodies)

    return make


#: Makes one object's driver from the shared client, the wake-ups, its namespace and name.
BuildDriver = Callable[[Kube, Wakers, str, str], AnyDriver]


def object_maker(memo: Mapping[str, Any], build: BuildDriver, namespace: str, name: str) -> Make:
    """``maker`` for one object of a kind."""
    return maker(memo, lambda kube, wakers: build(kube, wakers, namespace, name))


def on_own_events(
    plural: str, kind: str, build: BuildDriver, *, handler_id: str
) -> Callable[..., Awaitable[None]]:
    """Register a kind's handler for its own watch events, the same for both kinds:
    each event starts the object's runner, or wakes it when the body is news."""

    async def own_news(
        name: str | None,
        namespace: str | None,
        event: Mapping[str, Any],
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        ns, nm = namespace or "default", name or ""
        key = (kind, ns, nm)
        body = event.get("object") or {}
        labels = (body.get("metadata") or {}).get("labels") if isinstance(body, Mapping) else None
        if not instances.handles(labels, instances.of_memo(memo)):
            if registry(memo).known(key):  # relabelled away from this instance
                follow(memo, key, {"type": "DELETED"}, lambda: object_maker(memo, build, ns, nm))
            return
        found = registry(memo)
        found.makes(kind, lambda key: object_maker(memo, build, key[1], key[2]))
        follow(memo, key, event, lambda: object_maker(memo, build, ns, nm))

    kopf.on.event(GROUP, VERSION, plural, id=handler_id)(own_news)
    return own_news


def runner(memo: Mapping[str, Any], key: Key, make: Make) -> AnyRunner:
    return registry(memo).get(key, make)


def follow(
    memo: Mapping[str, Any], key: Key, event: Mapping[str, Any], make: Callable[[], Make]
) -> None:
    """A kind's own watch event: keep the body, start the loop, wake it when it is news."""
    found = registry(memo)
    if event.get("type") == "DELETED":
        task = found.stop(key)
        kind, namespace, name = key

        def forget(_: object = None) -> None:
            metrics.forget(kind=kind, namespace=namespace, name=name)

        forget()
        if task is not None and not task.done():
            task.add_done_callback(forget)  # a step in progress may record once more
        return
    body = event.get("object")
    news = found.bodies.put(key, body) if isinstance(body, Mapping) else True
    if not found.known(key):
        found.ensure(key, make())
    elif news:
        found.news(key)


def post_event(body: Mapping[str, Any], note: EventNote) -> None:
    kopf.event(cast(kopf.Body, body), type=note.type, reason=note.reason, message=note.message)
