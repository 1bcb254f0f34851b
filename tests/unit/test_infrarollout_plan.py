"""The InfraRollout planner driven through whole rollouts (no cluster: data in, decisions out)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, RunCheck, StoreSnapshot
from shakedown.planning.infrarollout.objects import CONFIG_HASH_ANNOTATION, Obj, ObjKey
from shakedown.planning.infrarollout.plan import plan
from shakedown.planning.infrarollout.smoke import CheckOutcome

from .infrarollout_world import NS, World, configmap, deployment

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
SERVICE = ObjKey("Service", "web")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}


def broken_by_v2(world: World) -> None:
    """Pods running with MESSAGE=v2 (the change) fail readiness, in production only."""

    def broken(namespace: str, obj: Obj) -> bool:
        if namespace != NS:
            return False
        refs = [
            e["configMapRef"]["name"]
            for e in obj["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        ]
        data = [world.get(ObjKey("ConfigMap", r), namespace) for r in refs]
        annotated = CONFIG_HASH_ANNOTATION in (
            obj["spec"]["template"]["metadata"].get("annotations") or {}
        )
        return annotated and any(d and d["data"]["MESSAGE"] == "v2" for d in data)

    world.broken = broken


def test_replace_walks_every_phase_and_succeeds() -> None:
    world = World.default({})
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v2"}  # type: ignore[index]
    annotations = world.get(DEPLOY)["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
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


def test_bake_failure_rolls_back_deployment_and_configmap_at_once() -> None:
    world = World.default({})
    broken_by_v2(world)
    original = world.get(DEPLOY)["spec"]  # type: ignore[index]
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolledBack_phase(), final.message
    assert final.rollback_reason and final.rollback_reason.startswith("NotReady")
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]
    assert world.get(DEPLOY)["spec"] == original  # type: ignore[index]
    starting = next(d for d in world.decisions if d.status.phase is RolloutPhase.ROLLING_BACK)
    restored = [str(a.key) for a in starting.actions if isinstance(a, Apply)]
    assert restored == ["ConfigMap/web-config", "Deployment/web"], "configuration first, same round"
    assert starting.failure is not None and starting.failure.observable_at is not None
    assert final.failure_observed_at == starting.failure.observable_at


def RolledBack_phase() -> RolloutPhase:
    return RolloutPhase.ROLLED_BACK


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
    assert world.get(DEPLOY)["spec"]["replicas"] == 1  # type: ignore[index]
    assert world.get(ObjKey("ConfigMap", "web-config-canary"))["data"] == {"MESSAGE": "v2"}  # type: ignore[index]
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]
    world.now += timedelta(minutes=20)
    world.step()
    assert world.status.current_step == 1
    world.annotations["shakedown.dev/promote"] = "t1"
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED
    assert final.handled_promote == "t1"
    assert world.get(DEPLOY)["spec"]["replicas"] == 2  # type: ignore[index]
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
    assert world.get(SERVICE)["spec"]["selector"] == {"app": "web", "shakedown.dev/role": "green"}  # type: ignore[index]
    assert world.get(ObjKey("Deployment", "web-green"))["spec"]["replicas"] == 2  # type: ignore[index]
    blue_generation = world.get(DEPLOY)["metadata"]["generation"]  # type: ignore[index]
    broken_by_v2(world)
    world.broken_since.clear()

    def green_broken(namespace: str, obj: Obj) -> bool:
        return namespace == NS and obj["metadata"]["name"] == "web-green"

    world.broken = green_broken
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert world.get(SERVICE)["spec"]["selector"] == {"app": "web"}  # type: ignore[index]
    assert world.get(ObjKey("Deployment", "web-green")) is None
    assert world.get(DEPLOY)["metadata"]["generation"] == blue_generation, "blue untouched"


def test_blue_green_after_a_good_bake_ends_on_the_original_objects() -> None:
    world = World.default({"strategy": {"type": "BlueGreen", "blueGreen": {"service": "web"}}})
    final = world.run(until=DONE, tick=5)
    assert final.phase is RolloutPhase.SUCCEEDED
    assert world.get(SERVICE)["spec"]["selector"] == {"app": "web"}  # type: ignore[index]
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v2"}  # type: ignore[index]
    assert world.copies() == []


def test_abort_rolls_back_a_shifted_rollout() -> None:
    world = World.default({"bake": "1h"})
    world.run(until={"Baking"}, tick=5)
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert final.rollback_reason and final.rollback_reason.startswith("Aborted")
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]


def test_abort_before_the_shift_ends_without_touching_production() -> None:
    world = World.default({"smokeTests": {"readyFor": "10m"}})
    world.run(until={"SmokeTesting"}, tick=5)
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.ABORTED
    assert world.applies(NS) == []


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
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]
    assert world.get(DEPLOY)["spec"] == deployment()["spec"]  # type: ignore[index]
    assert not world.namespaces and not world.leases


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


def test_timeout_before_the_shift_fails_without_touching_production() -> None:
    world = World.default({"timeout": "1m", "smokeTests": {"readyFor": "10m"}})
    final = world.run(until=DONE, tick=10)
    assert final.phase is RolloutPhase.FAILED and "timeout" in final.message.lower()
    assert world.applies(NS) == []


def test_a_missing_workload_target_fails_with_its_name() -> None:
    world = World.default({})
    del world.objects[(NS, DEPLOY)]
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert "Deployment/web not found" in final.message


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
    assert world.get(CONFIG) is not None and configmap("v3")["data"] == world.get(CONFIG)["data"]  # type: ignore[index]


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
        if (
            world.status.phase is RolloutPhase.BAKING
            and world.now >= world.status.phase_started_at + timedelta(seconds=5)
        ):  # type: ignore[operator]
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
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]


def test_a_rollback_that_cannot_get_healthy_ends_after_the_timeout_saying_so() -> None:
    world = World.default({"timeout": "2m"})
    world.broken = lambda namespace, obj: namespace == NS  # even the snapshot's pods fail
    original_put = world.put

    def put_unready(namespace: str, obj: Obj) -> None:
        original_put(namespace, obj)
        stored = world.objects[(namespace, ObjKey.of(obj))]
        if namespace == NS and stored["kind"] == "Deployment":
            stored["status"]["readyReplicas"] = 0

    world.put = put_unready  # type: ignore[method-assign]
    final = world.run(until=DONE, tick=10)
    assert final.phase is RolloutPhase.ROLLED_BACK
    assert "not healthy after 2m" in final.message


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


def test_without_automatic_rollback_a_failure_waits_for_a_person_to_abort() -> None:
    world = World.default({"rollback": {"automatic": False, "notReadyFor": "10s"}})
    broken_by_v2(world)
    final = world.run(until=DONE, tick=1)
    assert final.phase is RolloutPhase.FAILED and final.shift_started
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v2"}, "left as it is"  # type: ignore[index]
    world.annotations["shakedown.dev/abort"] = "now"
    final = world.run(until={"RolledBack"}, tick=1)
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]
    assert final.history[0].result.value == "RolledBack"
    assert [h.revision for h in final.history] == [1]


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
    assert world.get(DEPLOY)["spec"]["replicas"] == 2  # type: ignore[index]
    assert world.copies() == [], "canary Deployment and ConfigMap copy deleted"
    assert world.get(CONFIG)["data"] == {"MESSAGE": "v1"}  # type: ignore[index]
