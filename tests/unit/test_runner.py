"""The one runner (adapters.runner) against a fake driver: no cluster, no kopf.

The fake keeps the object in memory, applies the runner's status patches to
it the way the API server does (RFC 7396), and writes a journal of what the
runner asked for, in order, so the tests can check the skeleton's promises:
status first, then Events, then actions; a failure loses no recorded status;
a status that does not parse stalls the object and nothing else happens;
wake-ups coalesce; an object that is gone ends the loop quietly.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from shakedown.adapters.runner import (
    RECONCILE_ERROR,
    Runner,
    Skipped,
    StepFailed,
)
from shakedown.adapters.runnerset import Runners, Stop
from shakedown.adapters.statuswriting import merge_patch
from shakedown.adapters.wakeups import Bodies, Wakers
from shakedown.api.common import Condition
from shakedown.planning.decision import Decision, EventNote
from shakedown.planning.refusal import INVALID_STATUS

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
#: Every test finishes long before this; a broken runner fails instead of hanging.
DEADLINE = 10.0


class FakeStatus(BaseModel):
    step: int = 0
    conditions: list[Condition] = []

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


FakeDecision = Decision[FakeStatus, str]


def apply_patch(target: Any, patch: Any) -> Any:
    """What the API server does with a JSON merge patch (RFC 7396)."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_patch(result.get(key), value)
    return result


class FakeDriver:
    """One object in memory; every call the runner makes goes to ``journal``."""

    kind = "Fake"
    namespace = "ns"
    name = "obj"
    log = logging.getLogger("tests.runner")
    tick = 3600.0  # never reached: every test wakes or stops the runner itself
    retry = 0.0
    max_rounds: int | None = None
    follows_namespace = False

    def __init__(self, status: Mapping[str, Any] | None = None) -> None:
        self.obj: dict[str, Any] | None = {
            "kind": self.kind,
            "metadata": {"namespace": self.namespace, "name": self.name, "generation": 1},
            "spec": {"want": "steps"},
            "status": dict(status or {}),
        }
        self.journal: list[str] = []
        self.on_act: Callable[[FakeDecision], Awaitable[None]] | None = None
        self.again = False

    @property
    def status(self) -> dict[str, Any]:
        assert self.obj is not None
        return dict(self.obj["status"])

    def now(self) -> datetime:
        return NOW

    def read(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    def parse_status(self, raw: Mapping[str, Any]) -> FakeStatus:
        return FakeStatus.model_validate(dict(raw))

    def admit(self, body: dict[str, Any], status: FakeStatus, deleting: bool) -> Any:
        return body["spec"]

    def observe(
        self, body: dict[str, Any], spec: Any, status: FakeStatus, deleting: bool, now: datetime
    ) -> int:
        self.journal.append(f"observe {status.step}")
        return status.step

    def plan(self, spec: Any, status: FakeStatus, observed: int, now: datetime) -> FakeDecision:
        step = observed + 1
        return Decision(
            status=status.model_copy(update={"step": step}),
            events=(EventNote("Normal", "Stepped", f"step {step}"),),
            actions=(f"action {step}",),
            again=self.again,
        )

    def write_status(self, patch: Mapping[str, Any]) -> None:
        assert self.obj is not None
        self.journal.append(f"write {dict(patch)}")
        self.obj["status"] = apply_patch(self.obj["status"], patch)

    def recorded(
        self, spec: Any, before: FakeStatus, decision: FakeDecision, now: datetime, deleting: bool
    ) -> None:
        self.journal.append("recorded")

    async def act(
        self,
        body: dict[str, Any],
        spec: Any,
        observed: int,
        decision: FakeDecision,
        complain: Callable[[str], None],
    ) -> None:
        self.journal.extend(decision.actions)
        if self.on_act is not None:
            await self.on_act(decision)

    def post_event(self, body: Mapping[str, Any], note: EventNote) -> None:
        self.journal.append(f"event {note.type} {note.reason}")

    def close(self) -> None:
        self.journal.append("close")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, DEADLINE)

    return asyncio.run(bounded())


def runner_of(driver: FakeDriver) -> Runner[Any, Any, Any, Any]:
    return Runner(driver, Wakers())


def test_status_is_recorded_before_events_and_actions() -> None:
    driver = FakeDriver()
    decision = run(runner_of(driver).step())
    assert isinstance(decision, Decision) and decision.status.step == 1
    assert driver.journal == [
        "observe 0",
        "write {'step': 1}",
        "recorded",
        "event Normal Stepped",
        "action 1",
    ]
    assert driver.status == {"step": 1}


def test_an_unchanged_status_is_not_written_again() -> None:
    driver = FakeDriver({"step": 1, "conditions": []})
    driver.plan = lambda spec, status, observed, now: Decision(status=status)  # type: ignore[method-assign]
    run(runner_of(driver).step())
    assert not [line for line in driver.journal if line.startswith("write")]


class ApiError(Exception):
    """Shaped like the Kubernetes client's ApiException: its str() is the whole response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"({status})\nReason: {reason}\nHTTP response headers: ...")
        self.status, self.reason = status, reason


def test_a_status_that_cannot_be_stored_means_nothing_is_done() -> None:
    driver = FakeDriver()

    def refuse(patch: Mapping[str, Any]) -> None:
        raise ApiError(422, "Unprocessable Entity")

    driver.write_status = refuse  # type: ignore[method-assign]
    with pytest.raises(StepFailed, match=r"^cannot store status: 422 Unprocessable Entity$"):
        run(runner_of(driver).step())
    assert driver.journal == ["observe 0"], "no Event, no action without a recorded status"


def test_a_step_failing_while_the_api_is_down_is_retried() -> None:
    driver = FakeDriver()
    runner = runner_of(driver)
    stop = Stop()
    read = driver.read
    down = [True]

    def flaky_read() -> dict[str, Any] | None:
        if down[0]:
            raise ApiError(503, "Service Unavailable")
        return read()

    async def act(decision: FakeDecision) -> None:
        stop.set()

    driver.read = flaky_read  # type: ignore[method-assign]
    driver.on_act = act
    failures = 0
    complain = runner.complain

    def count(body: Any, message: str) -> None:
        nonlocal failures
        failures += 1
        down[0] = failures < 2  # the API comes back after the second failed step
        complain(body, message)

    runner.complain = count  # type: ignore[method-assign]
    assert run(runner.run(stop)) is False
    assert failures == 2
    assert driver.status["step"] == 1


def test_a_failing_action_keeps_the_recorded_status_and_is_said_once() -> None:
    driver = FakeDriver()
    runner = runner_of(driver)
    stop = Stop()

    async def fail(decision: FakeDecision) -> None:
        if decision.status.step >= 3:
            stop.set()
        raise StepFailed("registry down")

    driver.on_act = fail
    assert run(runner.run(stop)) is False
    # Each step recorded its status before its action failed, and the next step
    # planned from that status: nothing recorded was lost, nothing reset.
    assert [line for line in driver.journal if line.startswith("observe")] == [
        "observe 0",
        "observe 1",
        "observe 2",
    ]
    assert driver.status["step"] == 3
    # The same failure three times is one Warning Event, not three.
    assert driver.journal.count(f"event Warning {RECONCILE_ERROR}") == 1


def test_a_status_that_does_not_parse_stalls_and_nothing_is_done() -> None:
    driver = FakeDriver({"step": "not a number", "conditions": []})
    runner = runner_of(driver)
    assert run(runner.step()) is Skipped.WAITING
    assert driver.status["step"] == "not a number", "never reset to empty"
    stalled = next(c for c in driver.status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == INVALID_STATUS
    assert "status.step" in stalled["message"]
    assert not [line for line in driver.journal if line.startswith(("observe", "action"))]
    assert driver.journal.count(f"event Warning {INVALID_STATUS}") == 1
    # Stepping again says nothing new and writes nothing.
    before = list(driver.journal)
    assert run(runner.step()) is Skipped.WAITING
    assert driver.journal == before


def test_wake_ups_during_a_step_coalesce_into_one_more_step() -> None:
    driver = FakeDriver()
    wakers = Wakers()
    runner: Runner[Any, Any, Any, Any] = Runner(driver, wakers)
    stop = Stop()
    pending_in_second_step: list[bool] = []

    async def act(decision: FakeDecision) -> None:
        if decision.status.step == 1:
            for _ in range(5):
                wakers.wake(runner.key)
        else:
            pending_in_second_step.append(runner.wake_event.is_set())
            stop.set()

    driver.on_act = act
    assert run(runner.run(stop)) is False
    assert [line for line in driver.journal if line.startswith("observe")] == [
        "observe 0",
        "observe 1",
    ]
    assert pending_in_second_step == [False], "five wake-ups, one step"


def test_again_steps_at_once_up_to_max_rounds_then_waits() -> None:
    driver = FakeDriver()
    driver.again = True
    driver.max_rounds = 3
    runner = runner_of(driver)
    stop = Stop()
    waited: list[int] = []
    sleep = runner._sleep

    async def note_wait(seconds: float | None) -> None:
        waited.append(driver.status["step"])
        stop.set()
        await sleep(seconds)

    runner._sleep = note_wait  # type: ignore[method-assign]
    run(runner.run(stop))
    assert waited == [3]


def test_an_object_that_is_gone_ends_the_loop_quietly(caplog: pytest.LogCaptureFixture) -> None:
    driver = FakeDriver()
    runner = runner_of(driver)

    async def delete(decision: FakeDecision) -> None:
        driver.obj = None
        runner.wakers.wake(runner.key)  # as the object's deletion event does

    driver.on_act = delete
    with caplog.at_level(logging.WARNING, logger="tests.runner"):
        assert run(runner.run(Stop())) is True
    assert driver.journal[-1] == "close"
    assert not caplog.records


def test_a_step_failing_because_the_object_was_deleted_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = FakeDriver()
    runner = runner_of(driver)

    async def delete_then_fail(decision: FakeDecision) -> None:
        driver.obj = None
        raise RuntimeError("404 Not Found")

    driver.on_act = delete_then_fail
    with caplog.at_level(logging.WARNING, logger="tests.runner"):
        assert run(runner.run(Stop())) is True
    assert f"event Warning {RECONCILE_ERROR}" not in driver.journal
    assert not caplog.records


def test_the_registry_makes_one_runner_per_object() -> None:
    runners = Runners()
    made: list[str] = []

    def make(wakers: Wakers, bodies: Bodies) -> Runner[Any, Any, Any, Any]:
        made.append("runner")
        return Runner(FakeDriver(), wakers, bodies)

    key = ("Fake", "ns", "obj")
    assert runners.get(key, make) is runners.get(key, make)
    runners.forget(key)
    runners.get(key, make)
    assert made == ["runner", "runner"]


def test_merge_patch_nests_and_nulls_what_disappeared() -> None:
    before = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    after = {"b": {"c": 2, "d": 4}, "e": [1, 2]}
    patch = merge_patch(before, after)
    assert patch == {"a": None, "b": {"d": 4}, "e": [1, 2]}
    assert apply_patch(before, patch) == after
