"""The InfraRollout status changes only through validated, typed transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shakedown.api.infrarollout import (
    CheckPhase,
    CheckStatus,
    CheckType,
    EntryChanges,
    InfraRolloutStatus,
    ResolvedImage,
    RevisionState,
    RolloutPhase,
    Snapshot,
)
from shakedown.planning.infrarollout.step import Step

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: A status as an operator of the release before wrote it in the middle of a
#: canary shift (the wire form did not change: upgrading mid-rollout carries on).
MID_ROLLOUT: dict[str, Any] = {
    "phase": "Shifting",
    "revision": 3,
    "shadowNamespace": "web-shadow-3",
    "shadowExpiresAt": "2026-01-01T01:00:00Z",
    "currentStep": 1,
    "stepStartedAt": "2026-01-01T00:10:00Z",
    "changeHash": "abc123",
    "resolvedImages": [{"container": "app", "image": "registry.example/app:v2"}],
    "startedAt": "2026-01-01T00:00:00Z",
    "phaseStartedAt": "2026-01-01T00:09:00Z",
    "snapshot": {"secret": "web-snapshot-3", "takenAt": "2026-01-01T00:01:00Z", "targets": []},
    "checks": [
        {
            "name": "Ready",
            "type": "Ready",
            "phase": "Passed",
            "message": "",
            "successes": 0,
            "failures": 0,
        }
    ],
    "shiftStarted": True,
    "shiftStartedAt": "2026-01-01T00:09:00Z",
    "waitingFor": "canary step 2 of 3",
    "handledPromote": "1",
    "history": [{"revision": 2, "result": "Succeeded", "reason": "", "changeHash": ""}],
    "message": "shifting",
    "conditions": [],
}


def test_a_step_refuses_a_phase_that_does_not_exist() -> None:
    step = Step(InfraRolloutStatus(), NOW, 1)
    with pytest.raises(ValidationError, match="phase"):
        step.update(phase="NotAPhase")  # type: ignore[arg-type]
    assert step.status.phase is RolloutPhase.PENDING


def test_entering_a_phase_validates_what_comes_with_it() -> None:
    step = Step(InfraRolloutStatus(), NOW, 1)
    with pytest.raises(ValidationError, match="current_step"):
        step.enter(RolloutPhase.SHIFTING, "shifting", current_step=-1)
    assert step.status.phase is RolloutPhase.PENDING, "nothing recorded from a refused change"


def test_a_status_change_naming_no_field_is_refused_with_the_name() -> None:
    with pytest.raises(TypeError, match="no field shadow_namspace"):
        InfraRolloutStatus().evolve(shadow_namspace="x")  # type: ignore[call-arg]


def test_a_new_revision_starts_from_a_clean_revision_state() -> None:
    old = InfraRolloutStatus.model_validate(
        {**MID_ROLLOUT, "failureReason": "CrashLoop", "undoRevision": 2, "rollbackReason": "x"}
    )
    fresh = RevisionState(
        change_hash="def456",
        resolved_images=[ResolvedImage(container="app", image="registry.example/app:v3")],
    )
    new = old.start_revision(fresh, now=NOW + timedelta(hours=1), message="new change detected")

    for name in RevisionState.model_fields:
        assert getattr(new, name) == getattr(fresh, name), name
    assert (new.revision, new.phase, new.message) == (
        4,
        RolloutPhase.PENDING,
        "new change detected",
    )
    assert new.phase_started_at == NOW + timedelta(hours=1)
    # What outlives a revision is kept: the past, and the steering already acted on.
    assert new.history == old.history
    assert new.handled_promote == "1"


def test_a_status_written_before_the_upgrade_reads_and_writes_back_unchanged() -> None:
    status = InfraRolloutStatus.model_validate(MID_ROLLOUT)
    assert status.shadow_namespace == "web-shadow-3"
    assert status.current_step == 1
    assert status.snapshot == Snapshot(secret="web-snapshot-3", taken_at=NOW + timedelta(minutes=1))
    assert status.checks == [
        CheckStatus(name="Ready", type=CheckType.READY, phase=CheckPhase.PASSED)
    ]
    assert status.to_api() == MID_ROLLOUT


def test_a_phase_entry_may_change_every_field_but_the_phase_its_start_and_the_message() -> None:
    fields = set(InfraRolloutStatus.model_fields)
    assert set(EntryChanges.__annotations__) == fields - {"phase", "phase_started_at", "message"}
