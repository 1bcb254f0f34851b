"""bench/peers.py's pure pieces: when the clock starts, what counts as production healthy
on the old revision, the ratios it prints, and the two tools' objects of the scenario."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# The benchmarks are scripts that import their helpers by bare name.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from peerskit import (
    Outcome,
    argo_rollout,
    failure_start,
    infrarollout_spec,
    production_healthy,
    ratio,
    table,
)


def pod(name: str, *, hash_: str, ready: bool, argo: bool = False, gone: bool = False) -> Any:
    label = "rollouts-pod-template-hash" if argo else "pod-template-hash"
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web", label: hash_}}
    if gone:
        meta["deletionTimestamp"] = "2026-11-30T12:00:00Z"
    status = "True" if ready else "False"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": status}]}}


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_the_clock_starts_at_the_transition_second_or_when_the_watch_saw_it() -> None:
    # Seen 0.3 s into the second the condition names: that is the tighter bound.
    seen = at("2026-11-30T12:00:05.300000")
    assert failure_start("2026-11-30T12:00:05Z", seen) == pytest.approx(seen)
    # Seen late (a slow watch): the second ends at most one second after the stamp.
    late = at("2026-11-30T12:00:09")
    assert failure_start("2026-11-30T12:00:05Z", late) == at("2026-11-30T12:00:06")
    # A clock behind the API server's never starts the clock before the stamp.
    assert failure_start("2026-11-30T12:00:05Z", at("2026-11-30T12:00:04")) == at(
        "2026-11-30T12:00:05"
    )


def test_healthy_means_every_replica_ready_on_an_old_revision() -> None:
    old = {"aaa"}
    stable = [pod(f"web-{i}", hash_="aaa", ready=True, argo=True) for i in range(4)]
    assert production_healthy(stable, replicas=4, old_revisions=old)
    # Scaled down for the canary, or one not Ready yet: not at full strength.
    assert not production_healthy(stable[:3], replicas=4, old_revisions=old)
    starting = [*stable[:3], pod("web-new", hash_="aaa", ready=False)]
    assert not production_healthy(starting, replicas=4, old_revisions=old)
    # A canary pod still running, even Ready, is not the old revision.
    canary = [*stable[:3], pod("web-canary", hash_="bbb", ready=True)]
    assert not production_healthy(canary, replicas=4, old_revisions=old)
    # A canary pod on its way out does not count.
    leaving = [*stable, pod("web-canary", hash_="bbb", ready=False, gone=True)]
    assert production_healthy(leaving, replicas=4, old_revisions=old)


def outcome(name: str, seconds: float | None, bound: float = 600) -> Outcome:
    return Outcome(name, "settings", seconds, bound, configmap_back=True, stayed_healthy=True)


def test_ratios_are_a_lower_bound_when_the_peer_never_rolled_back() -> None:
    ours = outcome("shakedown", 12.0)
    assert ratio(outcome("argo-tuned", 84.0), ours) == "7.0x"
    assert ratio(outcome("argo-default", None, bound=600), ours) == "> 50x"
    assert ratio(outcome("argo-tuned", 84.0), outcome("shakedown", None)).startswith("n/a")


def test_the_table_says_when_a_run_did_not_roll_back() -> None:
    text = table([outcome("shakedown", 12.04), outcome("argo-default", None, bound=600)])
    assert "12.0 s" in text
    assert "did not roll back within 600 s" in text
    assert "argo-default: settings" in text


def test_argo_defaults_leave_the_progress_deadline_unset_and_tuned_sets_both() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
    default = argo_rollout(template, replicas=4, pause=60, deadline=None)["spec"]
    assert "progressDeadlineSeconds" not in default
    assert "progressDeadlineAbort" not in default
    tuned = argo_rollout(template, replicas=4, pause=60, deadline=10)["spec"]
    assert tuned["progressDeadlineSeconds"] == 10
    assert tuned["progressDeadlineAbort"] is True
    assert tuned["strategy"]["canary"]["steps"][:2] == [
        {"setWeight": 25},
        {"pause": {"duration": 60}},
    ]


def test_the_infrarollout_makes_the_same_change_with_the_same_steps() -> None:
    spec = infrarollout_spec(fail_after=8, pause=60, not_ready_for=10)
    (patch,) = spec["change"]["patches"]
    assert patch["patch"]["data"] == {"MESSAGE": "v2", "FAIL_AFTER": "8"}
    steps = spec["strategy"]["canary"]["steps"]
    assert [s.get("weight") for s in steps if "weight" in s] == [25, 50, 100]
    assert spec["rollback"]["notReadyFor"] == "10s"
