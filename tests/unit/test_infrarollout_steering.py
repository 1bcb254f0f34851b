"""Retry and undo of ended revisions (shakedown.dev/retry, shakedown.dev/undo), planner only."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.steering import parse_undo, undo_value

from .infrarollout_world import World

CONFIG = ObjKey("ConfigMap", "web-config")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def message(world: World) -> str:
    config = world.get(CONFIG)
    assert config is not None
    return str(config["data"]["MESSAGE"])


def change_to(world: World, text: str) -> None:
    world.spec = InfraRolloutSpec.model_validate(
        {
            **world.spec.to_api(),
            "change": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "patch": {"data": {"MESSAGE": text}},
                    }
                ]
            },
        }
    )


def test_retry_runs_a_rolled_back_change_again_as_a_new_revision() -> None:
    world = World.default({"bake": "1h"})
    world.run(until={"Baking"}, tick=5)
    world.annotations["shakedown.dev/abort"] = "stop"
    assert world.run(until=DONE).phase is RolloutPhase.ROLLED_BACK
    world.annotations["shakedown.dev/retry"] = "t1"
    world.run(until={"Baking"}, tick=5)
    final = world.run(until=DONE, tick=600)
    assert final.revision == 2 and final.phase is RolloutPhase.SUCCEEDED
    assert message(world) == "v2"
    assert final.change_hash == final.history[1].change_hash, "the same change, retried"


def test_retry_of_a_succeeded_revision_is_ignored_with_an_event() -> None:
    world = World.default({})
    world.run(until=DONE, tick=5)
    world.annotations["shakedown.dev/retry"] = "t1"
    decision = world.step()
    assert decision.status.revision == 1
    assert decision.status.handled_retry == "t1"
    assert any("retry ignored" in e.message for e in decision.events)


def test_undo_restores_production_from_before_the_last_revision() -> None:
    world = World.default({})
    assert world.run(until=DONE, tick=5).phase is RolloutPhase.SUCCEEDED
    assert message(world) == "v2"
    world.annotations["shakedown.dev/undo"] = undo_value(1, "t1")
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert message(world) == "v1"
    assert final.history[0].revision == 1 and final.history[0].reason.startswith("Undone")
    for _ in range(3):
        world.step()
    assert world.status.revision == 1, "the undone change is not rolled out again by itself"


def test_undo_to_an_earlier_revision_restores_its_snapshot() -> None:
    world = World.default({})
    world.run(until=DONE, tick=5)  # revision 1: v1 -> v2
    change_to(world, "v3")
    assert world.run(until=DONE, tick=5).revision == 2  # revision 2: v2 -> v3
    assert message(world) == "v3"
    # Undo to revision 1 = production as revision 1 left it = revision 2's snapshot.
    world.annotations["shakedown.dev/undo"] = undo_value(2, "t1")
    world.run(until=DONE)
    assert message(world) == "v2"
    # Undo both: production from before revision 1.
    world.annotations["shakedown.dev/undo"] = undo_value(1, "t2")
    final = world.run(until=DONE)
    assert message(world) == "v1"
    assert final.phase is RolloutPhase.ROLLED_BACK and final.undo_revision == 1


def test_undo_naming_no_such_revision_is_ignored() -> None:
    world = World.default({})
    world.run(until=DONE, tick=5)
    world.annotations["shakedown.dev/undo"] = undo_value(7, "t1")
    decision = world.step()
    assert decision.status.phase is RolloutPhase.SUCCEEDED
    assert message(world) == "v2"
    assert any("names no revision" in e.message for e in decision.events)


def test_parse_undo() -> None:
    assert parse_undo("3 requested-at=x") == 3
    assert parse_undo("0") is None
    assert parse_undo("three") is None


def test_a_paused_canary_holds_its_step_until_resumed() -> None:
    world = World.default(
        {
            "strategy": {
                "type": "Canary",
                "canary": {"steps": [{"weight": 50}, {"pause": "1s"}, {"weight": 100}]},
            }
        }
    )
    world.run(until={"Shifting"}, tick=5)
    world.annotations["shakedown.dev/paused"] = "true"
    for _ in range(30):
        world.step()
        world.now += timedelta(seconds=5)
    assert world.status.phase is RolloutPhase.SHIFTING
    assert world.status.waiting_for and "shakedown resume iro" in world.status.waiting_for
    assert message(world) == "v1", "production not promoted while paused"
    del world.annotations["shakedown.dev/paused"]
    assert world.run(until=DONE, tick=5).phase is RolloutPhase.SUCCEEDED
    assert message(world) == "v2"


def test_undo_to_a_revision_without_a_snapshot_fails_saying_so() -> None:
    world = World.default({})
    world.run(until=DONE, tick=5)
    world.snapshots.clear()
    world.annotations["shakedown.dev/undo"] = undo_value(1, "t1")
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert final.message == "undo: the snapshot of revision 1 is missing"
    assert message(world) == "v2", "production untouched"
