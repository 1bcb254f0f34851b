"""Phase 3, Shadowing (phases/shadowing.py): the shadow namespace and its copies."""

from __future__ import annotations

from typing import Any

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.smoke import CheckOutcome

from .infrarollout_world import NS, World

DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_shadow_holds_changed_copies_and_smoke_failure_leaves_production_alone() -> None:
    world = World.default(
        {
            "smokeTests": {
                "readyFor": "5s",
                "http": [{"name": "index", "service": "web", "port": 8080}],
            }
        }
    )
    world.check_results = lambda _check: CheckOutcome(False, "expected HTTP 200, got 503")
    shadow_seen: dict[str, Any] = {}

    def capture(_check: RunCheck) -> CheckOutcome:
        shadow = world.status.shadow_namespace or ""
        shadow_seen.update({str(k): o for (ns, k), o in world.objects.items() if ns == shadow})
        return CheckOutcome(False, "expected HTTP 200, got 503")

    world.check_results = capture
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.FAILED
    assert "index" in final.message and "503" in final.message
    assert shadow_seen["ConfigMap/web-config"]["data"] == {"MESSAGE": "v2"}
    assert shadow_seen["Deployment/web"]["spec"]["replicas"] == 1
    assert "NetworkPolicy/shakedown-isolate" in shadow_seen
    assert world.applies(NS) == [], "production never written"
    assert not final.shift_started


def test_a_shadow_namespace_left_by_an_earlier_rollout_of_the_same_name_is_replaced() -> None:
    world = World.default({})
    leftover = "prod-shadow-change-1"
    world.namespaces[leftover] = {
        "metadata": {
            "name": leftover,
            "annotations": {"shakedown.dev/owner": "prod/change/old-uid"},
        }
    }
    world.run(until={"Shadowing"}, tick=1)
    world.step()
    assert leftover not in world.namespaces, "the stale namespace is deleted first"
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED
