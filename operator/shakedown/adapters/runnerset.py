"""Every object's runner, its task, the wake-ups and the bodies seen: one registry.

One ``Runners`` lives in kopf's memo for the operator's lifetime. A runner's
loop runs as a plain asyncio task started on the object's first watch event
(``ensure``), not as a kopf daemon: kopf puts a finalizer on every object
that has a daemon, so deleting a thousand objects would wait for a thousand
daemons to stop. Finalizers are left to the kinds that have something to
clean up (an InfraRollout in flight).

All runners share one API client (``kube``): a client per object costs a
connection pool and its buffers per object, for objects that mostly sleep.

Most objects have nothing to do most of the time (suspended, finished,
waiting for a schedule). Once a runner's decision is idle its loop ends and
the registry keeps only a ``Dormant`` record: the resourceVersion of our last
status write, and its due time as one handle in the event loop's timer heap.
The kept body stays in ``Bodies``. News makes the runner and its task again
(``ensure``): the object's own watch event with a new meaning (``news``), a
wake-up of its key (``Wakers.on_absent``: its Jobs, a refresh it takes its
image from) or the due time. Namespace news passes a dormant object by, as it
passes an idle runner by. This is what a kind's ``makes`` is for: how to make
one of its runners again from its key alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from shakedown.adapters.runner import Dormant, Runner
from shakedown.adapters.wakeups import Bodies, Key, Wakers
from shakedown.adapters.workloads import Kube

AnyRunner = Runner[Any, Any, Any, Any]
#: Steps at once, over all runners. A step mostly waits on the API server, in one
#: of a few worker threads; more at once only hold more bodies and models in memory
#: (at a start with thousands of objects, all of them) without finishing sooner.
STEPS_AT_ONCE = 16
#: Makes an object's runner from the registry's wake-ups and bodies.
Make = Callable[[Wakers, Bodies], AnyRunner]
#: A kind's ``Make`` for one of its objects, from the object's key.
MakeFor = Callable[[Key], Make]


class Stop:
    """A stop flag the runner's loop understands (like kopf's ``DaemonStopped``)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_set(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the flag is set (at once when it is): a sleeping runner
        wakes without a task of its own waiting for the flag."""
        if self:
            callback()
        else:
            self._callbacks.append(callback)

    async def wait(self) -> bool:
        return await self._event.wait()


class Runners:
    """Every object's runner and the wake-ups, in one place (kept in kopf's memo)."""

    def __init__(self, connect: Callable[[], Kube] | None = None) -> None:
        self._connect = connect
        self._kube: Kube | None = None
        self.wakers = Wakers()
        self.wakers.on_absent = self._wake_dormant
        self.bodies = Bodies()
        self._runners: dict[Key, AnyRunner] = {}
        self._tasks: dict[Key, tuple[asyncio.Task[None], Stop]] = {}
        self._dormant: dict[Key, Dormant] = {}
        self._makers: dict[str, MakeFor] = {}
        self._slots = asyncio.Semaphore(STEPS_AT_ONCE)

    def kube(self) -> Kube:
        """The client every runner shares, made on first use (importing needs no cluster)."""
        if self._kube is None:
            if self._connect is None:
                raise RuntimeError("this registry was made without a way to connect")
            self._kube = self._connect()
        return self._kube

    def makes(self, kind: str, make_for: MakeFor) -> None:
        """How to make a runner of ``kind`` again from its key: its idle runners may then
        end and sleep dormant (a kind the registry cannot remake keeps its runners)."""
        self._makers.setdefault(kind, make_for)

    def get(self, key: Key, make: Make) -> AnyRunner:
        """The runner of ``key``, made once with ``make`` and shared from then on."""
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = make(self.wakers, self.bodies)
        return runner

    def forget(self, key: Key) -> None:
        self._runners.pop(key, None)
        self.bodies.drop(key)
        self._undormant(key)

    def news(self, key: Key) -> None:
        """The object's own watch brought a new body: its runner decides whether to step;
        a dormant one steps (an echo of our own write is no news: ``Bodies.put``)."""
        if key in self._dormant:
            self.ensure(key)
            return
        runner = self._runners.get(key)
        if runner is not None:
            runner.news()
        else:
            self.wakers.wake(key)

    def running(self, key: Key) -> bool:
        found = self._tasks.get(key)
        return found is not None and not found[0].done()

    def known(self, key: Key) -> bool:
        """Whether ``key`` has a loop: running, or dormant until news."""
        return key in self._dormant or self.running(key)

    def dormant(self, key: Key) -> Dormant | None:
        """``key``'s record while it sleeps dormant (no runner, no task), else None."""
        return self._dormant.get(key)

    def ensure(self, key: Key, make: Make | None = None) -> None:
        """Start the loop of ``key``'s runner unless it runs already; a dormant one's
        runner is made again (``make`` defaults to its kind's, see ``makes``)."""
        if self.running(key):
            return
        record = self._undormant(key)
        if make is None:
            make = self._makers[key[0]](key)
        fresh = key not in self._runners
        runner = self.get(key, make)
        if fresh and record is not None:
            runner.resume(record)
        runner.slots = self._slots
        stop = Stop()
        task = asyncio.create_task(self._loop(key, runner, stop), name=f"runner {'/'.join(key)}")
        self._tasks[key] = (task, stop)

    async def _loop(self, key: Key, runner: AnyRunner, stop: Stop) -> None:
        ended = await runner.run(stop, dormant=key[0] in self._makers)
        if ended is True:
            self.forget(key)
        elif isinstance(ended, Dormant):
            found = self._tasks.get(key)
            if found is None or found[0] is not asyncio.current_task():
                return  # stopped meanwhile: its object is gone
            del self._tasks[key]
            if self._runners.get(key) is runner:
                del self._runners[key]
            if ended.delay is not None:
                loop = asyncio.get_running_loop()
                ended.due = loop.call_later(ended.delay, self._wake_dormant, key)
            self._dormant[key] = ended

    def _wake_dormant(self, key: Key) -> None:
        """A wake-up of a key no runner waits on: a dormant one's runner is made again."""
        if key in self._dormant:
            self.ensure(key)

    def _undormant(self, key: Key) -> Dormant | None:
        record = self._dormant.pop(key, None)
        if record is not None and record.due is not None:
            record.due.cancel()
        return record

    def stop(self, key: Key) -> asyncio.Task[None] | None:
        """Stop ``key``'s loop (its object is gone): it ends after the step in progress,
        which is the task returned (None when none ran)."""
        found = self._tasks.pop(key, None)
        if found is not None:
            found[1].set()
        self.forget(key)
        return found[0] if found is not None else None

    def close_caches(self) -> None:
        """Stop the shared client's watch-fed caches (``adapters.watchcache``), if it has them."""
        if self._kube is not None and self._kube.caches is not None:
            self._kube.caches.stop()

    async def stop_all(self, timeout: float) -> None:
        """Stop every loop; cancel those still stepping after ``timeout`` seconds."""
        for key in list(self._dormant):
            self._undormant(key)
        tasks = [task for task, stop in self._tasks.values()]
        for _, stop in self._tasks.values():
            stop.set()
        self._tasks.clear()
        if not tasks:
            self.close_caches()
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        self.close_caches()
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
