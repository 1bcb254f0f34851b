"""Prove-only rollouts (promote: false) and failing fast in the shadow, through the planner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shakedown.api.common import ConditionStatus
from shakedown.api.infrarollout import CheckPhase, InfraRolloutStatus, RolloutPhase
from shakedown.conditions import find
from shakedown.planning.infrarollout.actions import AcquireLock
from shakedown.planning.infrarollout.objects import Obj, ObjKey, format_time
from shakedown.planning.infrarollout.smoke import CheckOutcome

from .infrarollout_world import NS, World

DONE = {"Succeeded", "Failed", "RolledBack", "Aborted", "Validated"}
PROVE: dict[str, Any] = {"promote": False}


def _same(pods: list[Obj]) -> list[Obj]:
    return pods


@dataclass
class ShadowWorld(World):
    """A world whose shadow pods are whatever ``shadow_pods`` says (production's are healthy)."""

    shadow_pods: Callable[[list[Obj]], list[Obj]] = _same

    def pods(self, namespace: str) -> list[Obj]:
        pods = super().pods(namespace)
        if namespace and namespace != NS:
            return self.shadow_pods(pods)
        return pods


def condition(status: InfraRolloutStatus, type_: str) -> tuple[ConditionStatus, str]:
    found = find(status.conditions, type_)
    assert found is not None
    return found.status, found.reason


def phases(world: World) -> list[str]:
    return [e for e in world.events() if e in {p.value for p in RolloutPhase}]


def test_prove_only_ends_validated_without_touching_production_or_its_locks() -> None:
    world = World.default(PROVE)
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.VALIDATED, final.message
    assert phases(world) == ["Snapshotting", "Shadowing", "SmokeTesting", "Validated"]
    assert world.applies(NS) == [], "production never written"
    assert not [a for a in world.log if isinstance(a, AcquireLock)], "no lock taken"
    assert not world.namespaces, "shadow namespace removed"
    assert final.history[0].result.value == "Validated"
    assert not final.shift_started
    assert condition(final, "Ready") == (ConditionStatus.TRUE, "Validated")
    assert condition(final, "Stalled")[0] is ConditionStatus.FALSE
    assert condition(final, "Reconciling")[0] is ConditionStatus.FALSE


def test_prove_only_failure_is_stalled_with_the_reason_and_production_untouched() -> None:
    world = World.default(
        {**PROVE, "smokeTests": {"http": [{"name": "index", "service": "web", "port": 8080}]}}
    )
    world.check_results = lambda _check: CheckOutcome(False, "expected HTTP 200, got 503")
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.FAILED
    assert world.applies(NS) == []
    assert not world.namespaces
    assert final.history[0].result.value == "Failed"
    assert condition(final, "Ready") == (ConditionStatus.FALSE, "SmokeTestFailed")
    assert condition(final, "Stalled") == (ConditionStatus.TRUE, "SmokeTestFailed")


def test_setting_promote_after_validated_starts_a_revision_that_ships() -> None:
    world = World.default(PROVE)
    assert world.run(until=DONE, tick=5).phase is RolloutPhase.VALIDATED
    world.spec = world.spec.model_copy(update={"promote": True})
    world.step()
    assert world.status.revision == 2
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    assert (world.get(ObjKey("ConfigMap", "web-config")) or {})["data"] == {"MESSAGE": "v2"}


def test_validated_is_not_proven_again_while_nothing_changes() -> None:
    world = World.default(PROVE)
    world.run(until=DONE, tick=5)
    for _ in range(3):
        world.step()
        world.now += timedelta(minutes=1)
    assert world.status.revision == 1
    assert world.status.phase is RolloutPhase.VALIDATED


def crash_looping(pods: list[Obj]) -> list[Obj]:
    out = []
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        status["restartCount"] = 2
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "Error",
                "finishedAt": pod["metadata"]["creationTimestamp"],
            }
        }
        pod["status"]["conditions"][0]["status"] = "False"
        out.append(pod)
    return out


def test_a_crash_looping_shadow_fails_at_once_naming_pod_and_exit_code() -> None:
    world = ShadowWorld.default({"smokeTests": {"readyFor": "30s"}})
    world.shadow_pods = crash_looping
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.FAILED
    smoke = next(d for d in world.decisions if d.status.phase is RolloutPhase.SMOKE_TESTING)
    assert world.now == smoke.status.phase_started_at, "failed in the first smoke round"
    assert final.failure_reason == "CrashLoop"
    assert "web-0" in final.message and "exit code 137" in final.message
    assert "CrashLoopBackOff" in final.message
    ready = next(c for c in final.checks if c.name == "ready")
    assert ready.phase is CheckPhase.FAILED
    assert condition(final, "Stalled") == (ConditionStatus.TRUE, "CrashLoop")
    assert world.applies(NS) == []


def test_a_shadow_never_ready_fails_at_ready_timeout_not_at_spec_timeout() -> None:
    world = World.default({"smokeTests": {"readyFor": "5s", "readyTimeout": "20s"}})
    world.broken = lambda namespace, _obj: namespace != NS
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.FAILED
    assert final.failure_reason == "ReadyTimeout"
    assert "not Ready within smokeTests.readyTimeout 20s" in final.message
    started = next(
        d.status.phase_started_at
        for d in world.decisions
        if d.status.phase is RolloutPhase.SMOKE_TESTING
    )
    assert started is not None
    assert world.now == started + timedelta(seconds=20)


def test_readiness_with_no_pod_at_all_times_out_too() -> None:
    world = ShadowWorld.default({"smokeTests": {"readyTimeout": "15s"}})
    world.shadow_pods = lambda _pods: []
    final = world.run(until=DONE, tick=1)
    assert final.failure_reason == "ReadyTimeout"
    assert "pods not all Ready" in final.message


def test_a_shadow_pod_turning_notready_during_ready_for_fails_fast() -> None:
    world = ShadowWorld.default({"smokeTests": {"readyFor": "60s"}})
    smoke_started: list[Any] = []

    def turn_notready(pods: list[Obj]) -> list[Obj]:
        if world.status.phase is not RolloutPhase.SMOKE_TESTING:
            return pods
        if not smoke_started:
            smoke_started.append(world.now)
        if world.now < smoke_started[0] + timedelta(seconds=10):
            return pods
        for pod in pods:
            ready = pod["status"]["conditions"][0]
            ready["status"] = "False"
            ready["lastTransitionTime"] = format_time(smoke_started[0] + timedelta(seconds=10))
        return pods

    world.shadow_pods = turn_notready
    final = world.run(until=DONE, tick=1)
    assert final.failure_reason == "NotReady", final.message
    assert "was Ready and turned NotReady" in final.message
    # No probe Event to quote: it fails once the short grace for that Event is over.
    assert world.now <= smoke_started[0] + timedelta(seconds=13)
