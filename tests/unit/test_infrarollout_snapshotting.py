"""Phase 2, Snapshotting (phases/snapshotting.py): production as it is, or a clear failure."""

from __future__ import annotations

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.objects import ObjKey

from .infrarollout_world import NS, World

DEPLOY = ObjKey("Deployment", "web")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_a_missing_workload_target_fails_with_its_name() -> None:
    world = World.default({})
    del world.objects[(NS, DEPLOY)]
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert "Deployment/web not found" in final.message
