"""An InfraRollout as a GitOps repository holds it: full manifests, first deployment,
and the health a GitOps tool reads after a rollback."""

from __future__ import annotations

from typing import Any

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout.objects import ObjKey

from .infrarollout_world import NS, World, configmap, deployment, service

DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}
KEYS = [ObjKey("Deployment", "web"), ObjKey("ConfigMap", "web-config"), ObjKey("Service", "web")]


def _spec(message: str) -> InfraRolloutSpec:
    spec: dict[str, Any] = {
        "targets": [{"kind": k.kind, "name": k.name} for k in KEYS],
        "change": {"manifests": [deployment(), configmap(message), service()]},
        "smokeTests": {"readyFor": "5s"},
        "bake": "1m",
        "rollback": {"notReadyFor": "10s"},
    }
    return InfraRolloutSpec.model_validate(spec)


def _conditions(world: World) -> dict[str, Any]:
    return {c.type: c for c in world.status.conditions}


def test_the_first_deployment_creates_the_targets() -> None:
    world = World(_spec("v1"))
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    for key in KEYS:
        assert world.get(key) is not None, key
    assert (world.get(KEYS[1]) or {})["data"] == {"MESSAGE": "v1"}
    assert _conditions(world)["Ready"].status == "True"


def test_rolling_back_the_first_deployment_deletes_what_it_created() -> None:
    world = World(_spec("v1"))
    world.broken = lambda namespace, _obj: namespace == NS
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.ROLLED_BACK, final.message
    assert [key for key in KEYS if world.get(key) is not None] == []


def test_after_a_rollback_git_is_ahead_and_the_rollout_says_so_until_it_changes() -> None:
    world = World(_spec("v1"))
    world.run(until={"Succeeded"}, tick=5)
    world.spec = _spec("v2")
    world.broken = lambda namespace, obj: namespace == NS and _message(world) == "v2"
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.ROLLED_BACK
    conditions = _conditions(world)
    assert (conditions["Ready"].status, conditions["Ready"].reason) == ("False", "RolledBack")
    assert conditions["Stalled"].status == "True"
    assert conditions["Reconciling"].status == "False"
    assert conditions["Ready"].observed_generation == 1
    revision = final.revision
    # The GitOps tool applies the same commit again: nothing is retried
    for _ in range(5):
        world.step()
    assert world.status.phase is RolloutPhase.ROLLED_BACK
    assert world.status.revision == revision
    # The next commit starts a new revision, and the rollout is in progress again
    world.spec = _spec("v3")
    world.step()
    assert world.status.revision == revision + 1
    assert _conditions(world)["Reconciling"].status == "True"


def _message(world: World) -> str:
    return str(((world.get(KEYS[1]) or {}).get("data") or {}).get("MESSAGE"))
