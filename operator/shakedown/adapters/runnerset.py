"""Every object's runner, its task, the wake-ups and the bodies seen: one registry.

One ``Runners`` lives in kopf's memo for the operator's lifetime. A runner's
loop runs as a plain asyncio task started on the object's first watch event
(``ensure``), not as a kopf daemon: kopf puts a finalizer on every object
that has a daemon, so deleting a thousand objects would wait for a thousand
daemons to stop. Finalizers are left to the kinds that have something to
clean up (an InfraRollout in flight).

All runners share one API client (``kube``): a client per object costs a
connection pool and its buffers per object, for objects that mostly sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from shakedown.adapters.runner import Runner
from shakedown.adapters.wakeups import Bodies, Key, Wakers
from shakedown.adapters.workloads import Kube

AnyRunner = Runner[Any, Any, Any, Any]
#: Makes an object's runner from the registry's wake-ups and bodies.
Make = Callable[[Wakers, Bodies], AnyRunner]


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
        self.bodies = Bodies()
        self._runners: dict[Key, AnyRunner] = {}
        self._tasks: dict[Key, tuple[asyncio.Task[None], Stop]] = {}

    def kube(self) -> Kube:
        """The client every runner shares, made on first use (importing needs no cluster)."""
        if self._kube is None:
            if self._connect is None:
                raise RuntimeError("this registry was made without a way to connect")
            self._kube = self._connect()
        return self._kube

    def get(self, key: Key, make: Make) -> AnyRunner:
        """The runner of ``key``, made once with ``make`` and shared from then on."""
        runner = self._runners.get(key)
        if runner is None:
            runner = self._runners[key] = make(self.wakers, self.bodies)
        return runner

    def forget(self, key: Key) -> None:
        self._runners.pop(key, None)
        self.bodies.drop(key)

    def news(self, key: Key) -> None:
        """The object's own watch brought a new body: its runner decides whether to step."""
        runner = self._runners.get(key)
        if runner is not None:
            runner.news()
        else:
            self.wakers.wake(key)

    def running(self, key: Key) -> bool:
        found = self._tasks.get(key)
        return found is not None and not found[0].done()

    def ensure(self, key: Key, make: Make) -> None:
        """Start the loop of ``key``'s runner unless it runs already."""
        if self.running(key):
            return
        stop = Stop()
        runner = self.get(key, make)

        async def loop() -> None:
            if await runner.run(stop):
                self.forget(key)

        task = asyncio.create_task(loop(), name=f"runner {'/'.join(key)}")
        self._tasks[key] = (task, stop)

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
