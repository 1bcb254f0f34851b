"""Wake-ups reach their waiter whichever thread sends them.

kopf runs synchronous handlers in worker threads; a wake-up sent from one must
still end the runner's wait at once, not whenever the loop next wakes up.
"""

from __future__ import annotations

import asyncio
import threading

from shakedown.adapters.wakeups import Wakers

KEY = ("InfraRollout", "ns", "change")


def test_a_wake_from_a_worker_thread_ends_the_wait() -> None:
    wakers = Wakers()
    registered = threading.Event()
    woken = threading.Event()

    async def runner() -> None:
        event = wakers.register(KEY)
        wakers.follow(KEY, "ns")
        registered.set()
        await event.wait()  # no timer, no I/O: only the wake-up can end this
        woken.set()

    loop_thread = threading.Thread(target=asyncio.run, args=(runner(),), daemon=True)
    loop_thread.start()
    assert registered.wait(10)
    wakers.wake_namespace("ns")  # from this thread, as a kopf sync handler would
    assert woken.wait(10), "the runner slept through a wake-up sent from another thread"
    loop_thread.join(10)


def test_a_wake_in_the_loop_sets_the_event_at_once() -> None:
    async def scenario() -> tuple[bool, bool]:
        wakers = Wakers()
        event = wakers.register(KEY)
        wakers.wake(("InfraRollout", "ns", "other"))
        untouched = not event.is_set()
        wakers.wake(KEY)
        return untouched, event.is_set()

    assert asyncio.run(scenario()) == (True, True)
