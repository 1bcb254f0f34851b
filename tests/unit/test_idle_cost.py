"""Idle objects cost nothing: no tick, no polls while suspended, no finalizer, no GET.

Issue 11: a thousand suspended or finished objects must cost no API requests
until an event or their next due time. These pin down the pure decisions
behind that (when is an object idle, when is it next due, which rollouts need
a finalizer) and the wake-up bookkeeping (idle runners sleep through
namespace news; repeated bodies are no news).
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from typing import Any

from shakedown.adapters.runner import Runner
from shakedown.adapters.runnerset import Runners, Stop
from shakedown.adapters.wakeups import Bodies, Wakers
from shakedown.api.imagerefresh import ContainerImageRefreshStatus
from shakedown.api.infrarollout import InfraRolloutStatus, RolloutPhase
from shakedown.planning.decision import Decision
from shakedown.planning.imagerefresh.triggers import poll_due
from shakedown.planning.infrarollout.phases.deletion import needs_finalizer
from shakedown.planning.infrarollout.step import Step
from tests.unit.imagerefresh_helpers import NOW, make_spec, observe, step
from tests.unit.test_runner import FakeDriver, FakeStatus, run


def _finished() -> ContainerImageRefreshStatus:
    return ContainerImageRefreshStatus.model_validate(
        {"observedGeneration": 1, "lastRun": {"id": "1", "trigger": "Spec", "phase": "Succeeded"}}
    )


# --------------------------------------------------------------------------- refreshes
def test_a_suspended_refresh_is_idle_with_no_timer_and_polls_nothing() -> None:
    spec = make_spec(suspend=True, schedule="*/5 * * * *")
    p = step(spec, _finished(), observe(0))
    p = step(spec, p.status, observe(1))
    assert p.idle and p.wake_at is None and not p.actions
    assert not poll_due(spec, p.status, NOW + timedelta(days=30))


def test_an_idle_refresh_wakes_at_its_schedule_or_next_poll_whichever_is_first() -> None:
    scheduled = make_spec(schedule="0 * * * *", triggers={"source": False, "baseImage": False})
    p = step(scheduled, _finished(), observe(0))
    assert p.idle and p.wake_at == p.status.next_run_at == NOW + timedelta(hours=1)
    polled = make_spec(schedule="0 * * * *", triggers={"pollInterval": "5m"})
    p = step(polled, _finished(), observe(0, polled=True, source_revision="r1"))
    assert p.idle and p.wake_at == NOW + timedelta(minutes=5)


def test_an_idle_refresh_without_schedule_or_polling_waits_for_news_only() -> None:
    spec = make_spec(triggers={"source": False, "baseImage": False})
    p = step(spec, _finished(), observe(0))
    assert p.idle and p.wake_at is None


def test_a_refresh_with_a_run_in_flight_is_not_idle() -> None:
    spec = make_spec()
    p = step(spec, ContainerImageRefreshStatus(), observe(0))
    assert p.status.current_run is not None or p.status.pending_triggers
    assert not p.idle


def test_resuming_polls_once_and_does_not_replay_a_source_change() -> None:
    suspended = make_spec(suspend=True)
    p = step(suspended, _finished(), observe(0, polled=True, source_revision="r1"))
    resumed = make_spec()
    assert poll_due(resumed, p.status, NOW + timedelta(seconds=1))
    p = step(resumed, p.status, observe(1, generation=2, polled=True, source_revision="r2"))
    assert p.status.current_run is None and p.status.pending_triggers == []
    assert p.status.observed is not None and p.status.observed.source_revision == "r2"
    later = step(resumed, p.status, observe(400, generation=2, polled=True, source_revision="r3"))
    assert later.status.pending_triggers or later.status.current_run is not None


# --------------------------------------------------------------------------- rollouts
def test_only_a_rollout_with_a_revision_in_flight_needs_a_finalizer() -> None:
    assert not needs_finalizer(None)
    assert not needs_finalizer({})
    assert not needs_finalizer({"revision": 3, "phase": "Succeeded"})
    assert not needs_finalizer({"revision": 1, "phase": "RolledBack"})
    assert needs_finalizer({"revision": 1, "phase": "Pending"})
    assert needs_finalizer({"revision": 2, "phase": "Baking"})
    assert needs_finalizer({"revision": 2, "phase": "NoSuchPhase"})  # unreadable: keep it


def test_a_finished_rollout_with_nothing_to_do_is_idle() -> None:
    done = InfraRolloutStatus(revision=2, phase=RolloutPhase.SUCCEEDED)
    assert Step(done, NOW, 1).decision().idle
    baking = InfraRolloutStatus(revision=2, phase=RolloutPhase.BAKING)
    assert not Step(baking, NOW, 1).decision().idle
    cleaning = Step(done, NOW, 1)
    cleaning.poll()
    cleaning.actions.append(object())  # type: ignore[arg-type]
    assert not cleaning.decision().idle


# --------------------------------------------------------------------------- wake-ups
def test_namespace_news_passes_idle_runners_by() -> None:
    async def scenario() -> tuple[bool, bool]:
        wakers = Wakers()
        busy, idle = ("K", "ns", "busy"), ("K", "ns", "idle")
        busy_event, idle_event = wakers.register(busy), wakers.register(idle)
        for key in (busy, idle):
            wakers.follow(key, "ns")
        wakers.set_idle(idle, True)
        wakers.wake_namespace("ns")
        return busy_event.is_set(), idle_event.is_set()

    assert asyncio.run(scenario()) == (True, False)


def test_a_body_seen_again_or_older_is_no_news() -> None:
    bodies = Bodies()
    key = ("K", "ns", "a")

    def body(version: str, value: int) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": version}, "spec": {"v": value}}

    assert bodies.put(key, body("10", 1))
    assert not bodies.put(key, body("10", 1))
    assert not bodies.put(key, body("9", 0))
    assert bodies.put(key, body("11", 2))
    assert bodies.get(key) == body("11", 2)


class IdleDriver(FakeDriver):
    """Plans idle decisions, and counts its reads."""

    tick = 0.01  # an idle runner must not step on this tick

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self) -> dict[str, Any] | None:
        self.reads += 1
        return super().read()

    def plan(self, spec: Any, status: FakeStatus, observed: int, now: Any) -> Any:
        self.journal.append("plan")
        return Decision(status=status, idle=True)


def test_an_idle_runner_steps_again_only_on_news() -> None:
    driver = IdleDriver()
    runner = Runner(driver, Wakers())

    async def scenario() -> int:
        stop = Stop()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(50):  # many ticks pass: no step
            await asyncio.sleep(0.01)
        steps = driver.journal.count("plan")
        runner.wakers.wake(runner.key)
        for _ in range(100):
            if driver.journal.count("plan") > steps:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return steps

    assert run(scenario()) == 1
    assert driver.journal.count("plan") == 2
    assert driver.reads == 1, "the second step uses the body it kept"


def test_the_registry_starts_one_loop_per_object_and_stops_it() -> None:
    async def scenario() -> tuple[bool, bool]:
        runners = Runners()
        key = ("Fake", "ns", "obj")
        driver = IdleDriver()

        def make(wakers: Wakers, bodies: Bodies) -> Runner[Any, Any, Any, Any]:
            return Runner(driver, wakers, bodies)

        runners.ensure(key, make)
        runners.ensure(key, make)
        await asyncio.sleep(0.05)
        started = runners.running(key)
        runners.stop(key)
        await runners.stop_all(1.0)
        await asyncio.sleep(0.05)
        return started, runners.running(key)

    assert run(scenario()) == (True, False)


class EchoDriver(IdleDriver):
    """Writes status like the API server (a new resourceVersion) and returns the object."""

    def __init__(self) -> None:
        super().__init__()
        assert self.obj is not None
        self.obj["metadata"]["resourceVersion"] = "1"
        self.status_step = 0

    def plan(self, spec: Any, status: FakeStatus, observed: int, now: Any) -> Any:
        self.journal.append("plan")
        self.status_step += 1
        return Decision(status=status.model_copy(update={"step": self.status_step}), idle=True)

    def write_status(self, patch: Any) -> dict[str, Any] | None:  # type: ignore[override]
        super().write_status(patch)
        assert self.obj is not None
        meta = self.obj["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return copy.deepcopy(self.obj)


def test_the_echo_of_our_own_status_write_is_no_news_but_an_edit_is() -> None:
    driver = EchoDriver()
    runner = Runner(driver, Wakers())

    async def deliver() -> None:  # as the watch does, while the step still runs
        assert driver.obj is not None
        runner.bodies.put(runner.key, copy.deepcopy(driver.obj))
        runner.news()

    async def scenario() -> tuple[int, int]:
        stop = Stop()
        driver.on_act = lambda decision: deliver()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(30):
            await asyncio.sleep(0.01)
        after_echo = driver.journal.count("plan")
        driver.on_act = None
        assert driver.obj is not None
        driver.obj["spec"] = {"want": "more"}  # an edit by someone else
        driver.obj["metadata"]["resourceVersion"] = "99"
        await deliver()
        for _ in range(100):
            if driver.journal.count("plan") > after_echo:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
        return after_echo, driver.journal.count("plan")

    assert run(scenario()) == (1, 2)


def test_kopf_writing_its_own_annotations_is_no_news() -> None:
    bodies = Bodies()
    key = ("K", "ns", "a")
    first = {"metadata": {"resourceVersion": "1", "annotations": {"x": "1"}}, "spec": {}}
    assert bodies.put(key, first)
    kopf = {
        "shakedown.dev/kopf-managed": "yes",
        "shakedown.dev/last-handled-configuration": '{"spec": {}}',
        "shakedown.dev/reconcile": '{"started": "2026-11-30T12:00:00Z"}',
    }
    second = {"metadata": {"resourceVersion": "2", "annotations": {"x": "1", **kopf}}, "spec": {}}
    assert not bodies.put(key, second)
    kept = bodies.get(key)
    assert kept is not None and kept["metadata"]["resourceVersion"] == "2", "kept, though no news"
    assert kept["metadata"]["annotations"] == {"x": "1"}, "kopf's bookkeeping is not kept"
    steering = {"resourceVersion": "3", "annotations": {"x": "1", "shakedown.dev/abort": "now"}}
    assert bodies.put(key, {"metadata": steering, "spec": {}})


def test_the_heap_can_be_trimmed_and_limited_where_glibc_runs() -> None:
    from shakedown.adapters import memory

    glibc = memory._glibc() is not None
    assert memory.limit_heaps(2) is glibc
    assert memory.map_large_blocks() is glibc
    assert isinstance(memory.trim(), bool)


def test_a_kept_body_is_handed_out_as_a_fresh_copy_without_field_owners() -> None:
    bodies = Bodies()
    key = ("K", "ns", "a")
    owners = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    body: dict[str, Any] = {
        "metadata": {"resourceVersion": "1", "managedFields": owners},
        "spec": {"v": 1},
    }
    assert bodies.put(key, body)
    first = bodies.get(key)
    assert first == {"metadata": {"resourceVersion": "1"}, "spec": {"v": 1}}
    assert first is not None
    first["spec"]["v"] = 2  # a step changing what it was handed changes nothing kept
    assert bodies.get(key) == {"metadata": {"resourceVersion": "1"}, "spec": {"v": 1}}
    assert body["metadata"]["managedFields"] == owners, "the caller's body is left alone"
