"""Phase 1, Pending (phases/pending.py): locks on the targets."""

from __future__ import annotations

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.objects import ObjKey

from .infrarollout_world import World

DEPLOY = ObjKey("Deployment", "web")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_a_held_lock_makes_the_rollout_wait_and_say_for_whom() -> None:
    world = World.default({})
    world.leases[DEPLOY] = "prod/other/uid-9"
    for _ in range(10):
        world.step()
    assert world.status.phase is RolloutPhase.PENDING
    assert world.status.waiting_for == "waiting for InfraRollout other (holds Deployment/web)"
    reconciling = next(c for c in world.status.conditions if c.type == "Reconciling")
    assert reconciling.reason == "WaitingForLock"
    del world.leases[DEPLOY]
    assert world.run(until=DONE, tick=5).phase is RolloutPhase.SUCCEEDED
