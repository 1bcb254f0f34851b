"""Conditions follow the API conventions and kstatus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shakedown.api.common import ConditionStatus
from shakedown.conditions import (
    MAX_MESSAGE,
    Health,
    condition,
    find,
    health_of,
    is_true,
    set_condition,
    with_health,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_set_condition_appends_a_new_type() -> None:
    result = set_condition([], condition("Ready", True, reason="Done", at=T0))
    assert [(c.type, c.status) for c in result] == [("Ready", ConditionStatus.TRUE)]


def test_unchanged_status_keeps_last_transition_time_but_updates_the_rest() -> None:
    first = set_condition([], condition("Ready", False, reason="Building", generation=1, at=T0))
    second = set_condition(
        first, condition("Ready", False, reason="Testing", message="3 left", generation=2, at=T1)
    )
    (ready,) = second
    assert ready.last_transition_time == T0
    assert ready.reason == "Testing"
    assert ready.message == "3 left"
    assert ready.observed_generation == 2


def test_changed_status_moves_last_transition_time() -> None:
    first = set_condition([], condition("Ready", False, reason="Building", at=T0))
    (ready,) = set_condition(first, condition("Ready", True, reason="Promoted", at=T1))
    assert ready.last_transition_time == T1
    assert ready.status is ConditionStatus.TRUE


def test_other_types_are_left_alone() -> None:
    start = [condition("Custom", True, reason="X", at=T0)]
    result = set_condition(start, condition("Ready", True, reason="Done", at=T1))
    assert find(result, "Custom") == start[0]
    assert len(result) == 2


def test_with_health_sets_exactly_one_of_the_three() -> None:
    for health in Health:
        conditions = with_health([], health, reason="Because", message="why", generation=3, at=T0)
        assert [c.type for c in conditions] == ["Ready", "Reconciling", "Stalled"]
        trues = [c.type for c in conditions if c.status is ConditionStatus.TRUE]
        assert trues == [health.value]
        assert all(c.observed_generation == 3 and c.reason == "Because" for c in conditions)
        assert health_of(conditions) is health


def test_reconciling_then_ready_keeps_untouched_transitions() -> None:
    reconciling = with_health(
        [], Health.RECONCILING, reason="Progressing", message="", generation=1, at=T0
    )
    ready = with_health(reconciling, Health.READY, reason="Idle", message="", generation=1, at=T1)
    stalled = find(ready, "Stalled")
    assert stalled is not None and stalled.last_transition_time == T0  # False -> False
    assert is_true(ready, "Ready")
    ready_cond = find(ready, "Ready")
    assert ready_cond is not None and ready_cond.last_transition_time == T1


def test_stalled_round_trips_through_the_api_form() -> None:
    conditions = with_health(
        [],
        Health.STALLED,
        reason="InvalidSpec",
        message="spec.schedule: never fires",
        generation=2,
        at=T0,
    )
    api = [c.to_api() for c in conditions]
    assert api[2] == {
        "type": "Stalled",
        "status": "True",
        "reason": "InvalidSpec",
        "message": "spec.schedule: never fires",
        "observedGeneration": 2,
        "lastTransitionTime": "2026-01-01T12:00:00Z",
    }


def test_long_messages_are_clipped() -> None:
    c = condition("Ready", False, reason="Failed", message="x" * (MAX_MESSAGE * 2), at=T0)
    assert len(c.message) == MAX_MESSAGE


def test_health_of_nothing() -> None:
    assert health_of([]) is None
