"""Phase 5, Shifting (phases/shifting.py): strategies move production, pauses wait for a person."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.objects import Obj, ObjKey

from .infrarollout_world import NS, World, broken_by_v2

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
SERVICE = ObjKey("Service", "web")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_canary_pauses_until_promoted() -> None:
    world = World.default(
        {
            "strategy": {
                "type": "Canary",
                "canary": {"steps": [{"weight": 50}, {"pause": "1h"}, {"weight": 100}]},
            }
        }
    )
    world.run(until={"Shifting"}, tick=5)
    for _ in range(40):
        world.step()
        world.now += timedelta(seconds=1)
    assert world.status.current_step == 1 and "paused" in (world.status.waiting_for or "")
    canary = world.get(ObjKey("Deployment", "web-canary"))
    assert canary is not None and canary["spec"]["replicas"] == 1
    assert world.existing(DEPLOY)["spec"]["replicas"] == 1
    assert world.existing(ObjKey("ConfigMap", "web-config-canary"))["data"] == {"MESSAGE": "v2"}
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
    world.now += timedelta(minutes=20)
    world.step()
    assert world.status.current_step == 1
    world.annotations["shakedown.dev/promote"] = "t1"
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED
    assert final.handled_promote == "t1"
    assert world.existing(DEPLOY)["spec"]["replicas"] == 2
    assert world.copies() == [], "canary and its ConfigMap removed"


def test_a_paused_canary_says_it_waits_for_a_person_and_what_resumes_it() -> None:
    world = World.default(
        {
            "strategy": {
                "type": "Canary",
                "canary": {"steps": [{"weight": 50}, {"pause": "1h"}, {"weight": 100}]},
            }
        }
    )
    world.run(until={"Shifting"}, tick=5)
    working = {c.type: c for c in world.status.conditions}
    assert working["Reconciling"].reason == "Shifting"
    for _ in range(40):
        world.step()
        if world.status.current_step == 1:
            break
        world.now += timedelta(seconds=1)
    paused_at = world.status.step_started_at
    assert paused_at is not None
    world.step()
    conditions = {c.type: c for c in world.status.conditions}
    reconciling, ready = conditions["Reconciling"], conditions["Ready"]
    assert (reconciling.status.value, reconciling.reason) == ("True", "Paused")
    assert (ready.status.value, ready.reason) == ("False", "Paused")
    until = paused_at + timedelta(hours=1)
    assert reconciling.message == (
        "canary step 2 paused: waiting for `shakedown promote iro change` "
        f"(annotation shakedown.dev/promote) or until {until:%Y-%m-%dT%H:%M:%SZ}"
    )
    assert world.status.waiting_for == reconciling.message
    world.annotations["shakedown.dev/promote"] = "t1"
    world.step()
    resumed = {c.type: c for c in world.status.conditions}
    assert resumed["Reconciling"].reason != "Paused"
    assert world.status.current_step == 2


def test_blue_green_switches_the_selector_and_restores_it_on_rollback() -> None:
    world = World.default({"strategy": {"type": "BlueGreen", "blueGreen": {"service": "web"}}})
    world.run(until={"Baking"}, tick=5)
    assert world.existing(SERVICE)["spec"]["selector"] == {
        "app": "web",
        "shakedown.dev/role": "green",
    }
    assert world.existing(ObjKey("Deployment", "web-green"))["spec"]["replicas"] == 2
    blue_generation = world.existing(DEPLOY)["metadata"]["generation"]
    broken_by_v2(world)
    world.broken_since.clear()

    def green_broken(namespace: str, obj: Obj) -> bool:
        return namespace == NS and obj["metadata"]["name"] == "web-green"

    world.broken = green_broken
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert world.existing(SERVICE)["spec"]["selector"] == {"app": "web"}
    assert world.get(ObjKey("Deployment", "web-green")) is None
    assert world.existing(DEPLOY)["metadata"]["generation"] == blue_generation, "blue untouched"


def test_blue_green_after_a_good_bake_ends_on_the_original_objects() -> None:
    world = World.default({"strategy": {"type": "BlueGreen", "blueGreen": {"service": "web"}}})
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED
    assert world.existing(SERVICE)["spec"]["selector"] == {"app": "web"}
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v2"}
    assert world.copies() == []


def test_a_failing_canary_is_removed_and_the_stable_scaled_back() -> None:
    world = World.default(
        {"strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"pause": "1h"}]}}}
    )

    def canary_broken(namespace: str, obj: Obj) -> bool:
        return namespace == NS and obj["metadata"]["name"] == "web-canary"

    world.broken = canary_broken
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.ROLLED_BACK, final.message
    assert final.current_step is not None
    assert world.existing(DEPLOY)["spec"]["replicas"] == 2
    assert world.copies() == [], "canary Deployment and ConfigMap copy deleted"
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
