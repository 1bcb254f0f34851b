"""The InfraRollout planner driven through whole rollouts (no cluster: data in, decisions out)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, StoreSnapshot
from shakedown.planning.infrarollout.objects import CONFIG_HASH_ANNOTATION, ObjKey
from shakedown.planning.infrarollout.plan import plan

from .infrarollout_world import NS, World, broken_by_v2, configmap

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
SERVICE = ObjKey("Service", "web")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_replace_walks_every_phase_and_succeeds() -> None:
    world = World.default({})
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v2"}
    annotations = world.existing(DEPLOY)["spec"]["template"]["metadata"]["annotations"]
    assert CONFIG_HASH_ANNOTATION in annotations
    phases = [e for e in world.events() if e in {p.value for p in RolloutPhase}]
    assert phases == [
        "Snapshotting",
        "Shadowing",
        "SmokeTesting",
        "Shifting",
        "Baking",
        "Succeeded",
    ]
    # Each production object was written once; the untouched Service never.
    assert Counter(world.applies()) == {"ConfigMap/web-config": 1, "Deployment/web": 1}
    assert not world.namespaces, "shadow namespace removed"
    assert not world.leases, "locks released"
    assert final.history[0].result.value == "Succeeded"
    assert [type(a) for a in world.log].count(StoreSnapshot) == 1


def test_status_is_written_before_the_actions_of_a_transition() -> None:
    world = World.default({})
    world.run(until={"Shifting"}, tick=5)
    entering = world.decisions[-1]
    assert entering.status.phase is RolloutPhase.SHIFTING
    assert entering.status.shift_started
    assert not [a for a in entering.actions if isinstance(a, Apply)], "recorded first, acts next"


def test_replanning_after_a_restart_repeats_nothing_already_done() -> None:
    world = World.default({})
    broken_by_v2(world)
    while world.status.phase.value not in DONE:
        before = world.status
        decision = world.step()
        # A restart right after the actions: plan again from the recorded status.
        again = plan(world.spec, world.status, world.observe(), world.now)
        repeated = [a for a in again.actions if isinstance(a, Apply) and a in decision.actions]
        assert not repeated, (before.phase, repeated)
        if not decision.again:
            world.now += timedelta(seconds=1)
    assert Counter(world.applies()) == {"ConfigMap/web-config": 2, "Deployment/web": 2}


def test_abort_rolls_back_a_shifted_rollout() -> None:
    world = World.default({"bake": "1h"})
    world.run(until={"Baking"}, tick=5)
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert final.rollback_reason and final.rollback_reason.startswith("Aborted")
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}


def test_abort_before_the_shift_ends_without_touching_production() -> None:
    world = World.default({"smokeTests": {"readyFor": "10m"}})
    world.run(until={"SmokeTesting"}, tick=5)
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ABORTED
    assert world.applies(NS) == []


def test_timeout_before_the_shift_fails_without_touching_production() -> None:
    world = World.default({"timeout": "1m", "smokeTests": {"readyFor": "10m"}})
    final = world.run(until=DONE, tick=10)
    assert final.phase is RolloutPhase.FAILED and "timeout" in final.message.lower()
    assert world.applies(NS) == []


def test_a_new_change_after_a_rollback_starts_the_next_revision() -> None:
    world = World.default({})
    broken_by_v2(world)
    assert world.run(until=DONE).phase is RolloutPhase.ROLLED_BACK
    for _ in range(3):
        world.step()
    assert world.status.revision == 1, "the same change is not retried"
    world.spec = world.spec.model_copy(
        update={
            "change": world.spec.change.model_copy(update={"patches": []}),
        }
    )
    world.spec = type(world.spec).model_validate(
        {
            **world.spec.to_api(),
            "change": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "patch": {"data": {"MESSAGE": "v3"}},
                    }
                ]
            },
        }
    )
    final = world.run(until=DONE, tick=5)
    assert final.revision == 2 and final.phase is RolloutPhase.SUCCEEDED
    assert [h.revision for h in final.history] == [2, 1]
    assert configmap("v3")["data"] == world.existing(CONFIG)["data"]


def test_an_abort_set_while_idle_does_not_abort_the_next_revision() -> None:
    world = World.default({})
    assert world.run(until=DONE, tick=5).phase is RolloutPhase.SUCCEEDED
    world.annotations["shakedown.dev/abort"] = "stale"
    world.step()
    assert world.status.handled_abort == "stale"
    world.spec = type(world.spec).model_validate(
        {
            **world.spec.to_api(),
            "change": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "patch": {"data": {"MESSAGE": "v3"}},
                    }
                ]
            },
        }
    )
    final = world.run(until=DONE, tick=5)
    assert final.revision == 2 and final.phase is RolloutPhase.SUCCEEDED


def test_without_automatic_rollback_a_failure_waits_for_a_person_to_abort() -> None:
    world = World.default({"rollback": {"automatic": False, "notReadyFor": "10s"}})
    broken_by_v2(world)
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.FAILED and final.shift_started
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v2"}, "left as it is"
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until={"RolledBack"}, tick=1)
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
    assert final.history[0].result.value == "RolledBack"
    assert [h.revision for h in final.history] == [1]
