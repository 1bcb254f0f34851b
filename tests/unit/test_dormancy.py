"""Dormant objects: an idle runner's loop ends and only a small record stays.

Issue 11: a thousand objects with nothing to do must cost (almost) no memory.
The registry (``adapters.runnerset``) ends an idle runner's loop and keeps a
``Dormant`` record; these check that nothing is lost by it: the object steps
again on its own news, on a wake-up of its key and at its due time; the echo of
its own status write and namespace news leave it asleep; its deletion forgets it.
They go through the watch wiring (``handlers.runners.follow``) as kopf does.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shakedown.adapters.runner import Dormant, Runner
from shakedown.adapters.runnerset import Make, Runners
from shakedown.adapters.wakeups import Bodies, Wakers
from shakedown.handlers import runners as wiring
from tests.unit.test_idle_cost import EchoDriver
from tests.unit.test_runner import NOW, run

KEY = ("Fake", "ns", "obj")
AnyRunner = Runner[Any, Any, Any, Any]


class Object:
    """One object, its registry and the watch that delivers it, as kopf would."""

    def __init__(self, driver: EchoDriver | None = None) -> None:
        self.driver = driver or EchoDriver()
        self.registry = Runners()
        self.memo: dict[str, Any] = {wiring.MEMO_KEY: self.registry}
        self.made: list[weakref.ref[AnyRunner]] = []
        self.registry.makes(KEY[0], lambda key: self.make)

    def make(self, wakers: Wakers, bodies: Bodies) -> AnyRunner:
        runner: AnyRunner = Runner(self.driver, wakers, bodies)
        self.made.append(weakref.ref(runner))
        return runner

    def deliver(self, kind: str = "MODIFIED") -> None:
        """The object's own watch event with the object as stored now."""
        event = {"type": kind, "object": copy.deepcopy(self.driver.obj)}
        maker: Callable[[], Make] = lambda: self.make  # noqa: E731
        wiring.follow(self.memo, KEY, event, maker)

    @property
    def steps(self) -> int:
        return self.driver.journal.count("plan")

    async def until(self, what: Callable[[], bool]) -> None:
        """Poll (bounded by the test's deadline) until ``what`` holds."""
        while not what():
            await asyncio.sleep(0.005)

    async def asleep(self, steps: int) -> None:
        await self.until(lambda: self.steps == steps and self.registry.dormant(KEY) is not None)

    def edit(self) -> None:
        """Someone else changes the spec (a new resourceVersion)."""
        assert self.driver.obj is not None
        meta = self.driver.obj["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 10)
        self.driver.obj["spec"] = {"want": f"edit {meta['resourceVersion']}"}


def test_an_idle_object_keeps_no_runner_and_steps_again_on_its_news() -> None:
    thing = Object()

    async def scenario() -> None:
        thing.deliver("ADDED")
        await thing.asleep(1)
        assert not thing.registry.running(KEY)
        gc.collect()
        assert [ref() for ref in thing.made] == [None], "the runner is not kept"
        thing.edit()
        thing.deliver()
        assert thing.registry.running(KEY), "news makes its runner again at once"
        await thing.asleep(2)
        assert len(thing.made) == 2

    run(scenario())
    assert thing.driver.reads == 0, "both steps used the bodies the watch delivered"


def test_the_echo_of_its_own_status_write_does_not_wake_a_dormant_object() -> None:
    thing = Object()

    async def scenario() -> None:
        thing.deliver("ADDED")
        await thing.asleep(1)
        thing.deliver()  # the echo of the status the step wrote, after it went dormant
        assert not thing.registry.running(KEY)
        assert thing.registry.dormant(KEY) is not None
        thing.edit()
        thing.deliver()
        await thing.asleep(2)

    run(scenario())
    assert thing.steps == 2


class EarlyEchoDriver(EchoDriver):
    """Its watch echo arrives before the status write returns (in the event loop)."""

    loop: asyncio.AbstractEventLoop
    deliver: Callable[[], None]

    def write_status(self, patch: Any) -> dict[str, Any] | None:  # type: ignore[override]
        stored = super().write_status(patch)
        delivered = threading.Event()

        def echo() -> None:
            self.deliver()
            delivered.set()

        self.loop.call_soon_threadsafe(echo)
        assert delivered.wait(5)
        return stored


def test_an_echo_during_the_step_leaves_it_dormant() -> None:
    driver = EarlyEchoDriver()
    thing = Object(driver)
    driver.deliver = thing.deliver

    async def scenario() -> None:
        driver.loop = asyncio.get_running_loop()
        thing.deliver("ADDED")
        await thing.asleep(1)
        driver.deliver = lambda: None
        thing.edit()
        thing.deliver()
        await thing.asleep(2)

    run(scenario())
    assert thing.steps == 2, "the echo caused no step of its own"


class DueDriver(EchoDriver):
    """Idle; its first decision is due again after ``due_in`` (a schedule), later ones never."""

    def __init__(self, due_in: timedelta) -> None:
        super().__init__()
        self.due_in = due_in

    def plan(self, spec: Any, status: Any, observed: int, now: Any) -> Any:
        decision = super().plan(spec, status, observed, now)
        due = NOW + self.due_in if self.status_step == 1 else None
        return type(decision)(status=decision.status, idle=True, wake_at=due)


def test_a_dormant_object_steps_at_its_due_time() -> None:
    thing = Object(DueDriver(timedelta(seconds=0.02)))

    async def scenario() -> None:
        thing.deliver("ADDED")
        await thing.asleep(2)  # the first step's due time made the second

    run(scenario())
    record = thing.registry.dormant(KEY)
    assert record is not None and record.due is None, "not due again"


def test_a_wake_up_of_its_key_steps_it_but_namespace_news_does_not() -> None:
    thing = Object()

    async def scenario() -> None:
        thing.deliver("ADDED")
        await thing.asleep(1)
        thing.registry.wakers.wake_namespace(KEY[1])
        assert not thing.registry.running(KEY), "an idle object sleeps through namespace news"
        thing.registry.wakers.wake(KEY)  # e.g. one of its Jobs changed
        assert thing.registry.running(KEY)
        await thing.asleep(2)
        # From another thread too (a kopf sync handler): handed to the loop.
        waker = threading.Thread(target=thing.registry.wakers.wake, args=(KEY,))
        waker.start()
        waker.join(5)
        await thing.asleep(3)

    run(scenario())


async def dormant_with_a_due_time(thing: Object) -> Dormant:
    """Deliver the object and let it step once, into dormancy with its due time set."""
    thing.deliver("ADDED")
    await thing.asleep(1)
    record = thing.registry.dormant(KEY)
    assert record is not None and record.due is not None
    return record


def test_deleting_a_dormant_object_forgets_it_and_its_due_time() -> None:
    thing = Object(DueDriver(timedelta(hours=1)))

    async def scenario() -> None:
        record = await dormant_with_a_due_time(thing)
        assert record.due is not None
        thing.deliver("DELETED")
        assert record.due.cancelled()
        assert thing.registry.dormant(KEY) is None and not thing.registry.known(KEY)
        assert thing.registry.bodies.get(KEY) is None

    run(scenario())


def test_stopping_every_runner_ends_dormant_ones_too() -> None:
    thing = Object(DueDriver(timedelta(hours=1)))

    async def scenario() -> None:
        record = await dormant_with_a_due_time(thing)
        await thing.registry.stop_all(1.0)
        assert record.due is not None and record.due.cancelled()
        assert not thing.registry.known(KEY)

    run(scenario())


def test_no_more_than_a_bounded_number_of_objects_step_at_once() -> None:
    """A start with thousands of objects must not hold all their steps in memory at once."""
    from shakedown.adapters.runnerset import STEPS_AT_ONCE

    registry = Runners()
    gate = asyncio.Event()
    stepping: list[int] = [0, 0]  # now, most at once

    class Gated(EchoDriver):
        async def act(
            self, body: Any, spec: Any, observed: int, decision: Any, complain: Any
        ) -> None:
            stepping[0] += 1
            stepping[1] = max(stepping)
            await gate.wait()
            stepping[0] -= 1

    def maker(name: str) -> Make:
        driver = Gated()
        driver.name = name

        def make(wakers: Wakers, bodies: Bodies) -> AnyRunner:
            return Runner(driver, wakers, bodies)

        return make

    registry.makes("Fake", lambda key: maker(key[2]))
    keys = [("Fake", "ns", f"obj-{i}") for i in range(STEPS_AT_ONCE + 4)]

    async def scenario() -> None:
        for key in keys:
            registry.ensure(key)
        while stepping[0] < STEPS_AT_ONCE:
            await asyncio.sleep(0.005)
        gate.set()
        while not all(registry.dormant(key) for key in keys):
            await asyncio.sleep(0.005)

    run(scenario())
    assert stepping[1] == STEPS_AT_ONCE
