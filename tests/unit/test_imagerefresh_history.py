"""Promoted history and rollback-to."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.imagerefresh import ContainerImageRefreshStatus, HistoryEntry
from shakedown.planning.imagerefresh.history import parse_rollback_target, record_promotion
from shakedown.planning.imagerefresh.observed import MoveTag
from tests.unit.imagerefresh_helpers import (
    DIGEST_A,
    DIGEST_B,
    DIGEST_C,
    NOW,
    make_spec,
    observe,
    step,
)


def _promoted() -> ContainerImageRefreshStatus:
    return ContainerImageRefreshStatus.model_validate(
        {
            "observedGeneration": 1,
            "promotedDigest": DIGEST_B,
            "lastRun": {"id": "2", "trigger": "Manual", "phase": "Succeeded"},
            "history": [
                {"digest": DIGEST_B, "promotedAt": "2026-11-25T11:00:00Z", "runId": "2"},
                {"digest": DIGEST_A, "promotedAt": "2026-11-25T10:00:00Z", "runId": "1"},
            ],
        }
    )


def test_history_is_newest_first_bounded_and_without_duplicates() -> None:
    history: list[HistoryEntry] = []
    for index, digest in enumerate([DIGEST_A, DIGEST_B, DIGEST_C, DIGEST_A]):
        history = record_promotion(
            history, digest=digest, run_id=str(index), at=NOW + timedelta(minutes=index), limit=3
        )
    assert [(h.digest, h.run_id) for h in history] == [
        (DIGEST_A, "3"),
        (DIGEST_C, "2"),
        (DIGEST_B, "1"),
    ]
    assert len(record_promotion(history, digest=DIGEST_B, run_id="9", at=NOW, limit=2)) == 2


def test_rollback_target_accepts_a_digest_or_a_reference() -> None:
    assert parse_rollback_target(DIGEST_A) == DIGEST_A
    assert parse_rollback_target(f"registry.test/ci/x@{DIGEST_A}") == DIGEST_A
    assert parse_rollback_target("latest") is None


def test_rollback_to_a_digest_in_history_moves_the_tag_once() -> None:
    spec = make_spec()
    status = _promoted()
    p = step(spec, status, observe(0, rollback_to=DIGEST_A, tag_resolved=True, tag_digest=DIGEST_B))
    assert [a for a in p.actions if isinstance(a, MoveTag)] == [
        MoveTag(digest=DIGEST_A, why="rollback")
    ]
    assert p.status.handled_rollback_to is None  # handled only once the tag is seen there
    p = step(
        spec, p.status, observe(1, rollback_to=DIGEST_A, tag_resolved=True, tag_digest=DIGEST_A)
    )
    assert not [a for a in p.actions if isinstance(a, MoveTag)]
    assert p.status.promoted_digest == DIGEST_A
    assert p.status.handled_rollback_to == DIGEST_A
    assert [h.digest for h in p.status.history] == [DIGEST_B, DIGEST_A]  # history kept
    condition = next(c for c in p.status.conditions if c.type == "Rollback")
    assert (condition.status, condition.reason) == ("True", "RolledBack")
    later = step(spec, p.status, observe(2, rollback_to=DIGEST_A))
    assert not [a for a in later.actions if isinstance(a, MoveTag)] and not later.events


def test_rollback_to_an_unknown_digest_is_refused_with_a_condition() -> None:
    spec = make_spec()
    p = step(
        spec, _promoted(), observe(0, rollback_to=DIGEST_C, tag_resolved=True, tag_digest=DIGEST_B)
    )
    assert not [a for a in p.actions if isinstance(a, MoveTag)]
    assert p.status.promoted_digest == DIGEST_B
    condition = next(c for c in p.status.conditions if c.type == "Rollback")
    assert (condition.status, condition.reason) == ("False", "DigestNotInHistory")
    assert DIGEST_C in condition.message and DIGEST_A[:19] in condition.message
    warnings = [e for e in p.events if e.type == "Warning"]
    assert [w.reason for w in warnings] == ["RollbackRefused"]
    again = step(spec, p.status, observe(1, rollback_to=DIGEST_C))
    assert not again.events


def test_rollback_waits_while_a_run_is_promoting() -> None:
    spec = make_spec()
    status = _promoted().model_copy(
        update={
            "current_run": ContainerImageRefreshStatus.model_validate(
                {
                    "currentRun": {
                        "id": "3",
                        "trigger": "Manual",
                        "phase": "Promoting",
                        "candidateDigest": DIGEST_C,
                    }
                }
            ).current_run
        }
    )
    p = step(spec, status, observe(0, rollback_to=DIGEST_A, tag_resolved=True, tag_digest=DIGEST_B))
    assert [a for a in p.actions if isinstance(a, MoveTag)] == [
        MoveTag(digest=DIGEST_C, why="promote")
    ]
