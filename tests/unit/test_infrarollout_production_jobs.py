"""rollback.jobs (production_jobs, phases/judging, shifting, baking): Jobs in production.

A build that starts and answers its probes can still do nothing: a Job run in
production, in the candidate image and with the workload's permissions, is
the check that sees it. It starts once production runs the change, holds the
shift and the bake until it has spoken, and a failure rolls back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus, RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, PruneJobs, RunCheck
from shakedown.planning.infrarollout.context import HISTORY_LIMIT
from shakedown.planning.infrarollout.job_pruning import prunable
from shakedown.planning.infrarollout.objects import (
    CHECK_LABEL,
    REVISION_LABEL,
    ROLLOUT_LABEL,
    ROLLOUT_NAMESPACE_LABEL,
    ObjKey,
)
from shakedown.planning.infrarollout.production_jobs import job_name
from shakedown.planning.infrarollout.smoke import CheckOutcome

from .infrarollout_world import NOW, NS, World, deployment

DEPLOY = ObjKey("Deployment", "web")
CANARY = ObjKey("Deployment", "web-canary")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}
CANDIDATE = "reg/web:2"
CHECK = "production-selftest"


def secured_deployment() -> dict[str, Any]:
    obj = deployment()
    pod = obj["spec"]["template"]["spec"]
    pod["serviceAccountName"] = "web-sa"
    pod["securityContext"] = {"runAsNonRoot": True}
    pod["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False}
    return obj


def world_with(strategy: dict[str, Any], job: dict[str, Any] | None = None) -> World:
    spec = {
        "change": {"images": [{"container": "web", "image": CANDIDATE}]},
        "strategy": strategy,
        "bake": "10s",
        "rollback": {
            "notReadyFor": "10s",
            "jobs": [job or {"name": "selftest", "command": ["selftest"], "timeout": "1m"}],
        },
    }
    world = World.default(spec)
    world.put(NS, secured_deployment())
    return world


CANARY_STEPS = {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"pause": "10s"}]}}


class Job:
    """Stands in for the Job check: records each request, answers after ``takes`` seconds."""

    def __init__(self, world: World, *, passes: bool, takes: float) -> None:
        self.world, self.passes, self.takes = world, passes, takes
        self.asked: list[RunCheck] = []
        self.started: datetime | None = None
        self.asked_in: list[tuple[RolloutPhase, int | None]] = []

    def __call__(self, check: RunCheck) -> CheckOutcome | None:
        if check.namespace != NS:
            return CheckOutcome(True, "ok")  # nothing in the shadow here
        self.asked.append(check)
        self.asked_in.append((self.world.status.phase, self.world.status.current_step))
        self.started = self.started or self.world.now
        if (self.world.now - self.started).total_seconds() < self.takes:
            return None
        name = check.spec["jobName"]
        if self.passes:
            return CheckOutcome(True, f"Job {name} completed", job=name)
        return CheckOutcome(False, f"Job {name}: BackoffLimitExceeded. no status", job=name)


def test_a_failing_production_job_during_the_canary_rolls_back_before_the_promotion() -> None:
    world = world_with(CANARY_STEPS)
    job = Job(world, passes=False, takes=30)  # longer than the 10 s pause
    world.check_results = job
    final = world.run(until=DONE, steps=400)
    assert final.phase is RolloutPhase.ROLLED_BACK, final.message
    assert final.rollback_reason and final.rollback_reason.startswith(
        f"JobCheckFailed: {CHECK}: Job shakedown-change-selftest-r1"
    )
    # Started once the first step's pods were rolled out, never before.
    assert job.asked_in[0] == (RolloutPhase.SHIFTING, 1)
    # The pause ran out while the Job ran: production was never fully promoted.
    promoted = [
        a
        for a in world.log
        if isinstance(a, Apply) and a.key == DEPLOY and a.why.startswith("canary:")
    ]
    assert promoted == []
    assert (
        world.existing(DEPLOY)["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/web:1"
    )
    check = next(c for c in final.checks if c.name == CHECK)
    assert (check.phase.value, check.job) == ("Failed", "shakedown-change-selftest-r1")


def test_the_job_runs_in_the_candidate_as_the_workload_does_owned_by_the_rollout() -> None:
    world = world_with(CANARY_STEPS)
    job = Job(world, passes=True, takes=0)
    world.check_results = job
    world.run(until=DONE, steps=400)
    request = job.asked[0]
    assert request.image == CANDIDATE
    assert request.field == "spec.rollback.jobs[0]"
    assert request.spec["jobName"] == "shakedown-change-selftest-r1"
    assert request.spec["command"] == ["selftest"]
    assert request.spec["serviceAccountName"] == "web-sa"
    assert request.spec["podSecurityContext"] == {"runAsNonRoot": True}
    assert request.spec["securityContext"] == {"allowPrivilegeEscalation": False}
    (owner,) = request.spec["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("InfraRollout", "change", "uid-1")


def test_a_passing_production_job_holds_the_promotion_until_it_passed() -> None:
    world = world_with(CANARY_STEPS)
    job = Job(world, passes=True, takes=30)
    world.check_results = job
    final = world.run(until=DONE, steps=400)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    assert job.started is not None
    promoted_at = next(
        d.status.current_step for d in world.decisions if (d.status.current_step or 0) >= 2
    )
    assert promoted_at == 2
    held = [d for d in world.decisions if (d.status.waiting_for or "").startswith("production")]
    assert held, "the promotion waited for the Job"
    check = next(c for c in final.checks if c.name == CHECK)
    assert check.phase.value == "Passed" and check.job == "shakedown-change-selftest-r1"
    # Asked again at every step while it ran: always the same Job (recorded in status).
    assert {r.spec["jobName"] for r in job.asked} == {"shakedown-change-selftest-r1"}
    assert CANARY not in {k for (ns, k) in world.objects if ns == NS}


def test_with_replace_the_job_starts_in_the_bake_and_the_bake_waits_for_it() -> None:
    world = world_with({"type": "Replace"})
    job = Job(world, passes=True, takes=40)  # longer than the 10 s bake
    world.check_results = job
    final = world.run(until=DONE, steps=400)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    assert {phase for phase, _ in job.asked_in} == {RolloutPhase.BAKING}
    assert job.started is not None
    assert (world.now - job.started).total_seconds() >= 40


def test_a_restarted_operator_asks_for_the_job_it_recorded() -> None:
    world = world_with(CANARY_STEPS)
    job = Job(world, passes=True, takes=1000)
    world.check_results = job
    for _ in range(200):
        if world.step() and job.asked:
            break
        world.now += timedelta(seconds=1)
    recorded = next(c for c in world.status.checks if c.name == CHECK)
    assert recorded.job == "shakedown-change-selftest-r1"
    # A new operator has no task and no outcome; it asks for the same Job again.
    world.outcomes.clear()
    world.step()
    assert job.asked[-1].spec["jobName"] == recorded.job


def test_long_job_names_stay_valid_and_apart() -> None:
    a = job_name("r" * 60, "selftest", 3)
    b = job_name("r" * 59 + "s", "selftest", 3)
    assert len(a) <= 63 and len(b) <= 63 and a != b
    assert a.endswith("-r3-" + a.rsplit("-", 1)[1])
    assert job_name("Web", "smoke", 1) == "shakedown-web-smoke-r1"


def test_rollback_jobs_and_metrics_need_different_names() -> None:
    metric = {
        "name": "selftest",
        "prometheus": {"address": "http://p:9090", "query": "up"},
        "successCondition": "result == 1",
    }
    spec = {
        "targets": [{"kind": "Deployment", "name": "web"}],
        "change": {"images": [{"container": "web", "image": CANDIDATE}]},
        "rollback": {"metrics": [metric], "jobs": [{"name": "selftest"}]},
    }
    with pytest.raises(ValidationError, match=r"rollback.jobs\[0\].name"):
        InfraRolloutSpec.model_validate(spec)


# --------------------------------------------------------------------------- what is kept
def after_ten_revisions(world: World) -> None:
    """The rollout has ended revisions 1..10 (history full); the spec asks for an 11th."""
    history = [
        {
            "revision": r,
            "result": "Succeeded",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:10:00Z",
            "changeHash": f"old-{r}",
        }
        for r in range(HISTORY_LIMIT, 0, -1)
    ]
    world.status = InfraRolloutStatus.model_validate(
        {
            "revision": HISTORY_LIMIT,
            "phase": "Succeeded",
            "changeHash": "old-10",
            "history": history,
        }
    )


def prunes(world: World) -> list[PruneJobs]:
    return [a for a in world.log if isinstance(a, PruneJobs)]


@pytest.mark.parametrize(("passes", "ends"), [(True, "Succeeded"), (False, "RolledBack")])
def test_as_a_revision_ends_the_jobs_of_revisions_no_longer_in_the_history_go(
    passes: bool, ends: str
) -> None:
    world = world_with({"type": "Replace"})
    after_ten_revisions(world)
    world.check_results = Job(world, passes=passes, takes=0)
    final = world.run(until=DONE, steps=400)
    assert final.phase.value == ends, final.message
    # Revision 1 fell out of the history: its Jobs go, those of 2..11 stay.
    assert [h.revision for h in final.history] == list(range(11, 1, -1))
    (prune,) = prunes(world)
    assert prune == PruneJobs(
        namespace=NS, rollout="change", uid="uid-1", keep=frozenset(range(2, 12))
    )
    # Only at that transition, after the status saying it ended is written.
    (ending,) = [d for d in world.decisions if prune in d.actions]
    assert ending.status.phase.value == ends


def test_an_idle_rollout_and_one_without_rollback_jobs_never_list_jobs() -> None:
    world = world_with({"type": "Replace"})
    world.check_results = Job(world, passes=True, takes=0)
    world.run(until=DONE, steps=400)
    assert len(prunes(world)) == 1
    for _ in range(20):  # settled: steps that find nothing new prune nothing
        world.step()
        world.now += timedelta(minutes=5)
    assert len(prunes(world)) == 1

    plain = World.default({"change": {"images": [{"container": "web", "image": CANDIDATE}]}})
    plain.run(until=DONE, steps=400)
    assert prunes(plain) == []


def test_a_rollout_being_deleted_leaves_its_jobs_to_the_garbage_collector() -> None:
    world = world_with({"type": "Replace"})
    world.check_results = Job(world, passes=True, takes=1000)
    world.run(until={"Baking"}, steps=400)
    world.deleting = True
    final = world.run(until=DONE, steps=400)
    assert final.phase is RolloutPhase.ROLLED_BACK, final.message
    assert prunes(world) == []


def check_job(name: str, revision: str, **labels: str | None) -> dict[str, Any]:
    base: dict[str, str | None] = {
        ROLLOUT_LABEL: "change",
        ROLLOUT_NAMESPACE_LABEL: NS,
        REVISION_LABEL: revision,
        CHECK_LABEL: "selftest",
    }
    merged = {k: v for k, v in {**base, **labels}.items() if v is not None}
    owner = {"kind": "InfraRollout", "name": "change", "uid": "uid-1"}
    meta = {"name": name, "namespace": NS, "uid": f"uid-{name}", "labels": merged}
    return {"metadata": {**meta, "ownerReferences": [owner]}}


def test_only_this_rollouts_check_jobs_of_revisions_not_kept_are_picked() -> None:
    action = PruneJobs(namespace=NS, rollout="change", uid="uid-1", keep=frozenset({2, 3}))
    unowned = check_job("copied-labels", "1")
    unowned["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": "x", "uid": "other"}]
    going = check_job("going", "1")
    going["metadata"]["deletionTimestamp"] = NOW.isoformat()
    jobs = [
        check_job("old", "1"),
        check_job("kept", "2"),
        check_job("in-flight", "3"),
        check_job("other-rollout", "1", **{ROLLOUT_LABEL: "another"}),
        check_job("same-name-elsewhere", "1", **{ROLLOUT_NAMESPACE_LABEL: "staging"}),
        check_job("not-a-check", "1", **{CHECK_LABEL: None}),
        check_job("no-revision", "x"),
        {"metadata": {"name": "users-own", "namespace": NS, "labels": {"app": "web"}}},
        unowned,
        going,
        check_job("older", "0"),
    ]
    assert [(p.name, p.uid, p.revision) for p in prunable(jobs, action)] == [
        ("older", "uid-older", 0),
        ("old", "uid-old", 1),
    ]
