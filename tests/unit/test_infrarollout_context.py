"""The run context's endings (planning/infrarollout/context.py), one by one.

Every phase ends a revision through ``run.fail`` or ``run.finish``; the world
tests drive them through whole rollouts, these pin each way one can go: what a
user then reads in status and history, which Event is said, and what is left to
clean up.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shakedown.api.infrarollout import (
    InfraRolloutStatus,
    RolloutPhase,
    RolloutResult,
)
from shakedown.planning.infrarollout.actions import Action, Apply, DeleteNamespace, ReleaseLock
from shakedown.planning.infrarollout.context import HISTORY_LIMIT, RunContext
from shakedown.planning.infrarollout.locking import lease_name
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.step import Step

from .infrarollout_world import NOW, World

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")


def _restored(actions: list[Action]) -> set[ObjKey]:
    """What the actions put back from the snapshot."""
    return {ObjKey.of(a.obj) for a in actions if isinstance(a, Apply) and a.why == "rollback"}


def _context(status: dict[str, Any], spec: dict[str, Any] | None = None) -> RunContext:
    world = World.default(spec or {})
    observed = world.observe()
    parsed = InfraRolloutStatus.model_validate(
        {"revision": 4, "startedAt": "2026-01-01T11:00:00Z", **status}
    )
    return RunContext(spec=world.spec, observed=observed, step=Step(parsed, NOW, 1))


def test_a_failure_before_production_was_touched_ends_the_revision_as_failed() -> None:
    run = _context({"phase": "SmokeTesting"})
    run.fail("SmokeFailed", "check web answered 500")
    assert run.status.phase is RolloutPhase.FAILED
    assert run.status.failure_reason == "SmokeFailed"
    assert run.status.message == "SmokeFailed: check web answered 500"
    entry = run.status.history[0]
    assert (entry.revision, entry.result) == (4, RolloutResult.FAILED)
    assert entry.finished_at == NOW
    assert [(e.type, e.reason) for e in run.step.events] == [("Warning", "Failed")]
    assert not _restored(run.step.actions)


def test_an_abort_before_production_was_touched_ends_as_aborted() -> None:
    run = _context({"phase": "Shadowing"})
    run.fail("Aborted", "asked by the abort annotation", aborted=True)
    assert run.status.phase is RolloutPhase.ABORTED
    assert run.status.history[0].result is RolloutResult.ABORTED


def test_a_failure_after_the_shift_started_rolls_back_and_ends_nothing_yet() -> None:
    world = World.default({})
    world.run(until={"Baking"}, tick=5)
    observed = world.observe()
    run = RunContext(spec=world.spec, observed=observed, step=Step(world.status, NOW, 1))
    run.fail("NotReady", "web-0 not ready for 10s")
    assert run.status.phase is RolloutPhase.ROLLING_BACK
    assert run.status.rollback_reason == "NotReady: web-0 not ready for 10s"
    assert CONFIG in _restored(run.step.actions)
    assert run.status.history == world.status.history  # the ending comes after the restore


def test_a_failure_after_the_shift_with_automatic_rollback_off_ends_as_failed() -> None:
    world = World.default({"rollback": {"automatic": False, "notReadyFor": "10s"}})
    world.run(until={"Baking"}, tick=5)
    run = RunContext(spec=world.spec, observed=world.observe(), step=Step(world.status, NOW, 1))
    run.fail("NotReady", "web-0 not ready for 10s")
    assert run.status.phase is RolloutPhase.FAILED
    assert not _restored(run.step.actions)


def test_an_abort_rolls_back_even_with_automatic_rollback_off() -> None:
    world = World.default({"rollback": {"automatic": False, "notReadyFor": "10s"}})
    world.run(until={"Baking"}, tick=5)
    run = RunContext(spec=world.spec, observed=world.observe(), step=Step(world.status, NOW, 1))
    run.fail("Aborted", "asked", aborted=True)
    assert run.status.phase is RolloutPhase.ROLLING_BACK


def test_history_keeps_the_newest_entries_and_one_per_revision() -> None:
    earlier = [
        {"revision": r, "result": "Succeeded", "reason": "", "changeHash": ""}
        for r in range(4 + HISTORY_LIMIT, 4, -1)
    ]
    stale_self = {"revision": 4, "result": "Failed", "reason": "old", "changeHash": ""}
    run = _context({"phase": "Baking", "history": [stale_self, *earlier]})
    run.finish(RolloutPhase.SUCCEEDED, RolloutResult.SUCCEEDED, "baked for 1m")
    history = run.status.history
    assert len(history) == HISTORY_LIMIT
    assert history[0].revision == 4 and history[0].result is RolloutResult.SUCCEEDED
    assert [h.revision for h in history].count(4) == 1
    assert history[1].revision == 4 + HISTORY_LIMIT  # the newest earlier ones stay
    assert [(e.type, e.reason) for e in run.step.events] == [("Normal", "Succeeded")]


def test_an_ending_deletes_the_shadow_and_releases_only_our_locks() -> None:
    run = _context({"phase": "SmokeTesting"})
    me = run.observed.holder
    other = "someone-else"
    observed = replace(
        run.observed,
        shadow_namespace={"metadata": {"name": "web-shadow-4"}},
        locks={DEPLOY: me, CONFIG: other},
    )
    run = replace(run, observed=observed)
    run.finish(RolloutPhase.FAILED, RolloutResult.FAILED, "x", warning=True)
    assert DeleteNamespace("web-shadow-4") in run.step.actions
    released = [a for a in run.step.actions if isinstance(a, ReleaseLock)]
    assert released == [ReleaseLock(lease_name(DEPLOY), me)]


def test_a_shadow_already_terminating_is_not_deleted_again() -> None:
    run = _context({"phase": "SmokeTesting"})
    terminating = {
        "metadata": {"name": "web-shadow-4", "deletionTimestamp": "2026-01-01T11:59:00Z"}
    }
    run = replace(run, observed=replace(run.observed, shadow_namespace=terminating))
    run.cleanup()
    assert not any(isinstance(a, DeleteNamespace) for a in run.step.actions)
