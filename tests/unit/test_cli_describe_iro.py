"""``shakedown get iro NAME``: the detail view rendered from status as the operator writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shakedown.api.infrarollout import (
    CheckPhase,
    CheckStatus,
    CheckType,
    InfraRolloutStatus,
    RolloutHistoryEntry,
    RolloutResult,
    Snapshot,
    SnapshotTarget,
    TargetKind,
)
from shakedown.cli.describe_iro import describe_infra_rollout, pause_note, step_lines
from shakedown.cli.get import COLUMNS, view

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CANARY = {
    "type": "Canary",
    "canary": {"steps": [{"weight": 25}, {"pause": "10m"}, {"weight": 100}]},
}


def rollout(status: InfraRolloutStatus, *, strategy: Any = None, **annotations: str) -> Any:
    return {
        "metadata": {"name": "web", "namespace": "prod", "annotations": annotations},
        "spec": {
            "targets": [{"kind": "Deployment", "name": "web"}, {"kind": "ConfigMap", "name": "c"}],
            "change": {"images": [{"container": "web", "image": "reg/web:2"}]},
            "strategy": strategy or {"type": "Replace"},
        },
        "status": status.to_api(),
    }


def test_smoke_testing_shows_checks_targets_and_shadow() -> None:
    status = InfraRolloutStatus.model_validate(
        {
            "phase": "SmokeTesting",
            "revision": 3,
            "changeHash": "abc123",
            "shadowNamespace": "prod-shadow-web-3",
            "snapshot": Snapshot(
                secret="web-snapshot-3",
                taken_at=T0,
                targets=[
                    SnapshotTarget(kind=TargetKind.DEPLOYMENT, name="web", resource_version="812"),
                    SnapshotTarget(kind=TargetKind.CONFIG_MAP, name="c", existed=False),
                ],
            ).to_api(),
            "checks": [
                CheckStatus(
                    name="ready",
                    type=CheckType.READY,
                    phase=CheckPhase.PASSED,
                    message="2/2 Ready 30s",
                ),
                CheckStatus(
                    name="home",
                    type=CheckType.HTTP,
                    phase=CheckPhase.FAILED,
                    message="got 503",
                    failures=3,
                ),
                CheckStatus(
                    name="migrate",
                    type=CheckType.JOB,
                    phase=CheckPhase.RUNNING,
                    job="web-3-migrate",
                ),
            ],
        }
    )
    lines = describe_infra_rollout(rollout(status))
    text = "\n".join(lines)
    assert "Revision:   3 (change abc123)" in lines
    assert "Shadow:     prod-shadow-web-3" in lines
    assert "  ├── ✔ Ready ready: Passed: 2/2 Ready 30s" in lines
    assert "  ├── ✖ HTTP home: Failed (0 ok, 3 failed): got 503" in lines
    assert "  └── ◌ Job migrate: Running job web-3-migrate" in lines
    assert "  ├── Deployment/web: snapshotted at resourceVersion 812" in lines
    assert "  └── ConfigMap/c: did not exist before (a rollback deletes it)" in lines
    assert "Snapshot:   web-snapshot-3" in text
    assert "Paused" not in text


def test_a_canary_in_a_timed_pause_says_when_and_how_it_resumes() -> None:
    status = InfraRolloutStatus.model_validate(
        {"phase": "Shifting", "revision": 1, "currentStep": 1, "stepStartedAt": T0}
    )
    obj = rollout(status, strategy=CANARY)
    note = pause_note(obj, now=T0.replace(minute=4))
    assert note == (
        "at canary step 2: resumes by itself at 2026-01-01T12:10:00Z, 6m00s left, "
        "or now with `shakedown promote iro web`"
    )
    assert step_lines(obj) == [
        "Strategy:   Canary, step 2/3",
        "  ├── ✔ 1. setWeight 25",
        "  ├── ◌ 2. pause 10m",
        "  └── · 3. setWeight 100",
    ]


def test_a_canary_paused_by_a_person_names_resume() -> None:
    status = InfraRolloutStatus.model_validate(
        {"phase": "Shifting", "revision": 1, "currentStep": 0}
    )
    obj = rollout(status, strategy=CANARY, **{"shakedown.dev/paused": "true"})
    assert pause_note(obj) == ("by shakedown pause: resume with `shakedown resume iro web`")
    assert "Paused:     by shakedown pause" in "\n".join(describe_infra_rollout(obj))


def test_a_canary_on_a_weight_step_is_not_paused() -> None:
    status = InfraRolloutStatus.model_validate(
        {"phase": "Shifting", "revision": 1, "currentStep": 0}
    )
    assert pause_note(rollout(status, strategy=CANARY)) is None


def test_a_rolled_back_rollout_shows_why_and_the_history() -> None:
    status = InfraRolloutStatus.model_validate(
        {
            "phase": "RolledBack",
            "revision": 2,
            "currentStep": 2,
            "rollbackReason": "ProductionNotReady: web-1 not Ready for 10s",
            "history": [
                RolloutHistoryEntry(
                    revision=2,
                    result=RolloutResult.ROLLED_BACK,
                    finished_at=T0,
                    reason="ProductionNotReady: web-1",
                    change_hash="bbb",
                ),
                RolloutHistoryEntry(
                    revision=1, result=RolloutResult.SUCCEEDED, finished_at=T0, change_hash="aaa"
                ),
            ],
        }
    )
    obj = rollout(status, strategy=CANARY)
    lines = describe_infra_rollout(obj)
    assert "Rollback:   ProductionNotReady: web-1 not Ready for 10s" in lines
    assert step_lines(obj)[1:] == [
        "  ├── ✔ 1. setWeight 25",
        "  ├── ✔ 2. pause 10m",
        "  └── ✖ 3. setWeight 100",
    ]
    history = lines[lines.index("History (newest first):") + 1 :]
    assert history[0].split()[:4] == ["↶", "revision", "2", "RolledBack"]
    assert history[0].endswith("ProductionNotReady: web-1")
    assert history[1].split()[:4] == ["✔", "revision", "1", "Succeeded"]


def test_view_of_one_rollout_is_the_table_then_the_tree() -> None:
    status = InfraRolloutStatus.model_validate({"phase": "Baking", "revision": 1})
    lines = view([rollout(status)], "InfraRollout", wide=False, all_namespaces=False, named=True)
    assert lines[0].split()[:3] == ["NAME", "REVISION", "PHASE"]
    assert lines[1].split()[:3] == ["web", "1", "Baking"]
    assert "Strategy:   Replace" in lines
    assert len(COLUMNS["InfraRollout"]) > 3
