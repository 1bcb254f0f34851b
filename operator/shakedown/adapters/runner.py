"""The one loop every kind runs: observe → plan (pure) → record status → act.

A ``Runner`` owns one object (one per InfraRollout or ContainerImageRefresh,
a task started on its first watch event, ``adapters.runnerset``). Each ``step``
observes, asks the kind's pure planner for a ``Decision``, writes the
decision's status *first* (an RFC 7396 merge patch of the status
subresource), posts its Events, and only then carries out its actions. Every
action is idempotent, so a crash at any point is safe: the next step plans
again from the stored status.

What differs between the kinds sits behind a small ``Driver``
(``adapters.driver``): how to read, admit, observe, plan and act for that kind.
What does not differ is here, once:

- the wake-ups (``Wakers``): watch events wake the runner of one object, or of
  every object following a namespace; without news it looks again at the
  decision's ``wake_at`` or after the driver's ``tick``. An idle decision
  (nothing in flight) has no tick: it sleeps until ``wake_at`` or its own news,
  so a thousand idle objects cost nothing. Run by the registry
  (``run(..., dormant=True)``) the loop even ends there, handing back a
  ``Dormant`` record: no task, coroutine, driver or runner is kept for an
  object with nothing to do, and the registry makes them again on news or at
  the due time. Wake-ups that arrive while a step runs coalesce into one more
  step.
- the body: the newest one the watch delivered or our own status write
  returned (``Bodies``), so a step reads the object only when that is unknown
  or may be stale (after a failed or a waiting step).
- a status that does not parse stalls the object (``Stalled``, reason
  ``InvalidStatus``, naming the field, written and said once like a refused
  spec below) and nothing is done; it is never reset to empty, which would
  start over and re-adopt what the old status described.
- a spec the driver refuses (``admit`` returns ``Refused``) is reported here,
  once per generation (``planning.refusal``: Stalled, reason ``InvalidSpec``,
  the fields named, a Warning Event) and nothing else is done; the object then
  sleeps like an idle one until it is edited (or, when the refusal waits on
  other objects, until news from its namespace).
- a failed step is logged, said once as a Warning Event (``ReconcileError``),
  and retried after the driver's ``retry`` seconds; the status it recorded, if
  any, stays.
- an object that is gone (read returns None, also after a failed step) ends
  the loop quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from enum import Enum
from typing import Any, Generic

from shakedown.adapters.driver import (
    ActionT,
    Driver,
    Obj,
    ObservedT,
    SpecT,
    StatusT,
    Stopping,
)
from shakedown.adapters.statuswriting import (
    clip,
    describe,
    merge_patch,
    said,
)
from shakedown.adapters.wakeups import Bodies, Key, Wakers, meaning, resource_version
from shakedown.conditions import Health
from shakedown.metrics import observe as record_verdict
from shakedown.planning.decision import Decision, EventNote
from shakedown.planning.refusal import INVALID_STATUS, Refused, StatusChange, refusal, unreadable
from shakedown.planning.validation import INVALID_SPEC

#: Seconds to wait between recording a decision and acting on it (tests only; 0 = off).
FAULT_PAUSE = float(os.environ.get("SHAKEDOWN_FAULT_PAUSE", "0") or 0)
#: The reason of a failed step's Warning Event.
RECONCILE_ERROR = "ReconcileError"


class StepFailed(Exception):
    """An I/O step failed with a message fit for users; the next step retries from status."""


class Skipped(Enum):
    """A step that planned nothing, and why."""

    GONE = "the object no longer exists"
    WAITING = "nothing to plan now: a bad status, or a spec waiting on other objects (reported)"
    REFUSED = "the spec cannot be acted on until it is edited (reported Stalled)"


# --------------------------------------------------------------------------- the runner
class Dormant:
    """What is left of an idle object's runner while it sleeps (``Runners`` keeps it):
    a few words instead of a task, its coroutines, a driver and a runner."""

    __slots__ = ("delay", "due", "must_read", "written")

    def __init__(self, delay: float | None, written: int | None, must_read: bool) -> None:
        self.delay = delay
        """Seconds until its decision's ``wake_at`` (None: only news wakes it)."""
        self.written = written
        """The resourceVersion our last status write stored (echo detection goes on)."""
        self.must_read = must_read
        """Whether the next step must read the object (the kept body may be stale)."""
        self.due: asyncio.TimerHandle | None = None
        """The due time in the event loop's timer heap, once the registry sets it."""


class Runner(Generic[SpecT, StatusT, ObservedT, ActionT]):
    """Runs one object through its driver, one step at a time."""

    def __init__(
        self,
        driver: Driver[SpecT, StatusT, ObservedT, ActionT],
        wakers: Wakers,
        bodies: Bodies | None = None,
    ) -> None:
        self.driver = driver
        self.wakers = wakers
        self.bodies = bodies if bodies is not None else Bodies()
        self._must_read = False
        """Whether the next step reads the object (the kept body may be stale)."""
        self._news = False
        """The object's own watch brought a body while a step ran (maybe our own write)."""
        self._stepped: tuple[int | None, tuple[Any, ...]] = (None, ())
        """The version our last status write stored, and what the last step planned from."""
        self.key: Key = (driver.kind, driver.namespace, driver.name)
        self.lock = asyncio.Lock()
        """Held for a step: the loop and the finalizer share one runner."""
        self.wake_event = wakers.register(self.key)
        self._last_complaint: str | None = None
        self._body: Obj | None = None
        """The object as last read (Events about a failed step go to it)."""
        self.slots: asyncio.Semaphore | None = None
        """Steps of all runners at once (``Runners``): a start with thousands of objects
        would otherwise hold every one's body, models and observations at the same time."""

    def resume(self, dormant: Dormant) -> None:
        """Go on from where a dormant runner of the same object left off."""
        self._stepped = (dormant.written, ())
        self._must_read = dormant.must_read

    # ---- the loop
    async def run(self, stopping: Stopping, *, dormant: bool = False) -> bool | Dormant:
        """Step until the object is gone (True) or ``stopping`` is set (False); with
        ``dormant``, also end at an idle decision with no wake-up pending (``Dormant``)."""
        driver = self.driver
        self.wake_event = self.wakers.register(self.key)
        if driver.follows_namespace:
            self.wakers.follow(self.key, driver.namespace)

        wake_event = self.wake_event
        stopping.on_set(wake_event.set)  # leave the wait at once instead of being cancelled
        rounds = 0
        try:
            while not stopping:
                self.wake_event.clear()  # news from now on means one more step
                try:
                    async with self.lock, self.slots or contextlib.nullcontext():
                        result = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._must_read = True
                    if await self._gone():
                        driver.log.debug("%s/%s: deleted while stepping", *self.key[1:])
                        return True
                    self._failed(exc)
                    await self._sleep(driver.retry)
                    continue
                self._last_complaint = None
                self._body = None  # kept for a failed step's Event only
                self._news_after_step()
                if result is Skipped.GONE:
                    return True
                if result is Skipped.WAITING:  # whatever it waits for may be namespace news
                    self.wakers.set_idle(self.key, False)
                    await self._sleep(driver.tick)
                    continue
                if result is Skipped.REFUSED:  # only an edit helps: asleep until its news
                    self.wakers.set_idle(self.key, True)
                    busy = self.wake_event.is_set() or self.lock.locked() or bool(stopping)
                    if dormant and not busy:
                        return Dormant(None, self._stepped[0], self._must_read)
                    await self._sleep(None)
                    continue
                self.wakers.set_idle(self.key, result.idle)
                rounds = rounds + 1 if result.again else 0
                if result.again and (driver.max_rounds is None or rounds < driver.max_rounds):
                    continue
                rounds = 0
                delay = self._delay(result)
                # Dormant unless woken meanwhile, or another user (a finalizer) holds it.
                busy = self.wake_event.is_set() or self.lock.locked() or bool(stopping)
                if dormant and result.idle and not busy:
                    return Dormant(delay, self._stepped[0], self._must_read)
                del result  # a sleeping runner keeps no decision (status models, actions)
                await self._sleep(delay)
            return False
        finally:
            driver.close()
            self.wakers.unregister(self.key, self.wake_event)

    def news(self) -> None:
        """The object's own watch brought a new body: step again, unless it is our own write.

        The echo of a status write often arrives before the write returns; it is
        sorted out once the step is done (``_news_after_step``).
        """
        if self.lock.locked():
            self._news = True
        else:
            self.wake_event.set()

    def _news_after_step(self) -> None:
        if not self._news:
            return
        self._news = False
        kept = self.bodies.get(self.key)
        written, planned = self._stepped
        newer = (resource_version(kept or {}) or 0) > (written or 0)
        if kept is not None and (newer or meaning(kept)[:-1] != planned):
            self.wake_event.set()

    async def _gone(self) -> bool:
        """Whether the object is gone; a read that fails too says nothing (not gone)."""
        try:
            return await asyncio.to_thread(self.driver.read) is None
        except Exception:
            return False

    def _delay(self, decision: Decision[StatusT, ActionT]) -> float | None:
        """Seconds until the next step without news; None: only news wakes it."""
        tick = None if decision.idle else self.driver.tick
        if decision.wake_at is None:
            return tick
        seconds = max(0.0, (decision.wake_at - self.driver.now()).total_seconds())
        return seconds if tick is None else min(tick, seconds)

    async def _sleep(self, seconds: float | None) -> None:
        """Until news or ``seconds``: a due time in the event loop's timer heap, not a task
        (``asyncio.wait_for`` would add one per sleeping runner)."""
        if seconds is None:
            await self.wake_event.wait()
            return
        due = asyncio.get_running_loop().call_later(seconds, self.wake_event.set)
        try:
            await self.wake_event.wait()
        finally:
            due.cancel()

    # ---- one step
    async def step(self, *, deleting: bool | None = None) -> Decision[StatusT, ActionT] | Skipped:
        """Observe, plan, record, act once; ``deleting`` overrides the deletionTimestamp."""
        driver = self.driver
        body = None if self._must_read else self.bodies.get(self.key)
        if body is None:
            body = await asyncio.to_thread(driver.read)
            if body is None:
                return Skipped.GONE
            self.bodies.put(self.key, body)
            self._must_read = False
        self._body = body
        self._stepped = (self._stepped[0], meaning(body)[:-1])
        meta = body.get("metadata") or {}
        if deleting is None:
            deleting = bool(meta.get("deletionTimestamp"))
        try:
            status = driver.parse_status(dict(body.get("status") or {}))
        except ValueError as exc:
            change = unreadable(
                body.get("status") or {},
                describe(exc),
                generation=meta.get("generation"),
                now=driver.now(),
            )
            await self._stall(body, change, INVALID_STATUS)
            return Skipped.WAITING
        spec = await asyncio.to_thread(driver.admit, body, status, deleting)
        if spec is None:
            self._must_read = True
            return Skipped.WAITING
        if isinstance(spec, Refused):
            change = refusal(
                body.get("status") or {},
                spec,
                generation=meta.get("generation"),
                now=driver.now(),
            )
            await self._stall(body, change, INVALID_SPEC)
            return Skipped.WAITING if spec.waits_on_namespace else Skipped.REFUSED
        now = driver.now()
        observed = await asyncio.to_thread(driver.observe, body, spec, status, deleting, now)
        decision = driver.plan(spec, status, observed, now)
        patch = merge_patch(status.to_api(), decision.status.to_api())
        if patch:
            await self._store(patch)
        driver.recorded(spec, status, decision, now, deleting)
        for note in decision.events:
            self._post(body, note)
        if decision.actions and FAULT_PAUSE > 0:
            # Crash tests widen the window between "recorded" and "acted", where a crash hurts most.
            await asyncio.sleep(FAULT_PAUSE)
        await driver.act(body, spec, observed, decision, lambda m: self.complain(body, m))
        return decision

    async def _store(self, patch: dict[str, Any]) -> None:
        """Write a status patch and keep the stored body, so its echo is no news; a driver
        that gets no body back (a stand-in) makes the next step read again. A failed write
        recorded nothing, so the caller must do nothing either."""
        try:
            stored = await asyncio.to_thread(self.driver.write_status, patch)
        except Exception as exc:
            raise StepFailed(f"cannot store status: {said(exc)}") from exc
        if stored is not None:
            self.bodies.put(self.key, stored)
            self._stepped = (resource_version(stored), self._stepped[1])
        else:
            self._must_read = True

    async def _stall(self, body: Obj, change: StatusChange, reason: str) -> None:
        """Stalled, naming the field (a refused spec, a status that does not parse): written
        and said once (``planning.refusal``), stored like a decision's status, so its echo
        is no news."""
        if change.patch:
            await self._store(change.patch)
        kind, namespace, name = self.key
        record_verdict(
            kind=kind, namespace=namespace, name=name, health=Health.STALLED.value, reason=reason
        )
        if change.event is not None:
            self._post(body, change.event)

    # ---- saying what happened
    def _post(self, body: Obj, note: EventNote) -> None:
        log = self.driver.log
        # The operator's INFO log says what it decided for which object.
        (log.warning if note.type == "Warning" else log.info)(
            "%s/%s: %s: %s", self.key[1], self.key[2], note.reason, note.message
        )
        try:
            self.driver.post_event(body, EventNote(note.type, note.reason, clip(note.message)))
        except Exception as exc:  # Events are best effort
            log.debug("event not posted: %s", exc)

    def complain(self, body: Obj | None, message: str) -> None:
        """Log a failure; post a Warning Event when it differs from the last one said."""
        self.driver.log.warning("%s/%s: %s", self.key[1], self.key[2], message)
        if message == self._last_complaint:
            return
        self._last_complaint = message
        if body is not None:
            note = EventNote("Warning", RECONCILE_ERROR, clip(message))
            with contextlib.suppress(Exception):
                self.driver.post_event(body, note)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, StepFailed):
            message = str(exc)
        else:
            message = f"step failed, retrying: {type(exc).__name__}: {said(exc)}"
            self.driver.log.debug("step failure", exc_info=exc)
        self.complain(self._body, message)
