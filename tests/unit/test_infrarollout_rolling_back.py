"""RollingBack and deletion (phases/rolling_back.py, phases/deletion.py)."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.objects import Obj, ObjKey

from .infrarollout_world import NS, World, deployment

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


class UnreadyWorld(World):
    """A world whose production Deployments never report a ready replica."""

    def put(self, namespace: str, obj: Obj) -> None:
        super().put(namespace, obj)
        stored = self.objects[(namespace, ObjKey.of(obj))]
        if namespace == NS and stored["kind"] == "Deployment":
            stored["status"]["readyReplicas"] = 0


def test_a_rollback_that_cannot_get_healthy_ends_after_the_timeout_saying_so() -> None:
    world = UnreadyWorld.default({"timeout": "2m"})
    world.broken = lambda namespace, obj: namespace == NS  # even the snapshot's pods fail
    final = world.run(until=DONE, tick=10)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert "not healthy after 2m" in final.message


def test_deletion_mid_bake_restores_production_then_finishes() -> None:
    world = World.default({"bake": "1h"})
    world.run(until={"Baking"}, tick=5)
    world.deleting = True
    for _ in range(50):
        decision = world.step()
        if decision.finished:
            break
        world.now += timedelta(seconds=1)
    else:
        raise AssertionError("deletion never finished")
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
    assert world.existing(DEPLOY)["spec"] == deployment()["spec"]
    assert not world.namespaces and not world.leases
