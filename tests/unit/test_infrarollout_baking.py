"""Phase 6, Baking (phases/baking.py, phases/judging.py): production judged, failures roll back."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, RunCheck
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.smoke import CheckOutcome

from .infrarollout_world import NS, World, broken_by_v2

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def test_bake_failure_rolls_back_deployment_and_configmap_at_once() -> None:
    world = World.default({})
    broken_by_v2(world)
    original = world.existing(DEPLOY)["spec"]
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolledBack_phase(), final.message
    assert final.rollback_reason and final.rollback_reason.startswith("NotReady")
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
    assert world.existing(DEPLOY)["spec"] == original
    starting = next(d for d in world.decisions if d.status.phase is RolloutPhase.ROLLING_BACK)
    restored = [str(a.key) for a in starting.actions if isinstance(a, Apply)]
    assert restored == ["ConfigMap/web-config", "Deployment/web"], "configuration first, same round"
    # When the failure became observable is recorded as the rollback starts, and kept.
    assert starting.status.failure_observed_at is not None
    assert final.failure_observed_at == starting.status.failure_observed_at


def RolledBack_phase() -> RolloutPhase:
    return RolloutPhase.ROLLED_BACK


def test_a_production_metric_check_failing_during_the_bake_rolls_back() -> None:
    metric = {
        "name": "errors",
        "prometheus": {"address": "http://127.0.0.1:9090", "query": "errors"},
        "successCondition": "result < 0.05",
        "interval": "1s",
        "count": 30,
    }
    world = World.default({"rollback": {"notReadyFor": "10s", "metrics": [metric]}})
    asked: list[RunCheck] = []

    def results(check: RunCheck) -> CheckOutcome | None:
        asked.append(check)
        if check.namespace != NS:
            return CheckOutcome(True, "ok")
        started = world.status.phase_started_at
        if (
            world.status.phase is RolloutPhase.BAKING
            and started is not None
            and world.now >= started + timedelta(seconds=5)
        ):
            return CheckOutcome(False, "result 0.5 fails result < 0.05", failures=1)
        return None

    world.check_results = results
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ROLLED_BACK, final.message
    assert final.rollback_reason and final.rollback_reason.startswith("MetricCheckFailed")
    production = [c for c in asked if c.namespace == NS]
    assert production and production[0].name == "production-errors"
    check = next(c for c in final.checks if c.name == "production-errors")
    assert check.phase.value == "Failed"
    assert world.existing(CONFIG)["data"] == {"MESSAGE": "v1"}
