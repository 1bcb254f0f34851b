"""What starts a run: creation, schedule, base image, source, manual requests, suspend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
    RunTrigger,
)
from shakedown.planning.imagerefresh.observed import JobState
from shakedown.planning.imagerefresh.triggers import next_fire_time, poll_due
from tests.unit.imagerefresh_helpers import (
    BASE_1,
    BASE_2,
    DIGEST_A,
    NOW,
    built,
    job,
    make_spec,
    observe,
    step,
)


def _idle(spec: ContainerImageRefreshSpec, **status: Any) -> ContainerImageRefreshStatus:
    """A status with one finished run and the generation observed."""
    base = ContainerImageRefreshStatus.model_validate(
        {
            "observedGeneration": 1,
            "lastRun": {"id": "1", "trigger": "Spec", "phase": "Succeeded"},
            **status,
        }
    )
    return base


def test_schedule_is_read_in_its_time_zone() -> None:
    after = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    fired = next_fire_time("0 22 * * *", "Europe/Berlin", after)
    assert fired == datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # CET is UTC+1 in November
    summer = next_fire_time("0 22 * * *", "Europe/Berlin", datetime(2026, 7, 1, tzinfo=UTC))
    assert summer == datetime(2026, 7, 1, 20, 0, tzinfo=UTC)


def test_schedule_fires_once_when_due_and_moves_next_run_at() -> None:
    spec = make_spec(schedule="*/5 * * * *")
    status = _idle(spec)
    p = step(spec, status, observe(0))
    assert p.status.next_run_at == NOW + timedelta(minutes=5)
    assert p.status.current_run is None
    p = step(spec, p.status, observe(299))
    assert p.status.current_run is None
    p = step(spec, p.status, observe(301))
    assert p.status.current_run is not None
    assert p.status.current_run.trigger == RunTrigger.SCHEDULE
    assert p.status.next_run_at == NOW + timedelta(minutes=10)


def test_unknown_time_zone_stalls_with_the_field_named() -> None:
    spec = make_spec(schedule="0 1 * * *", timeZone="Mars/Olympus")
    p = step(spec, _idle(spec), observe(0))
    stalled = next(c for c in p.status.conditions if c.type == "Stalled")
    assert stalled.status == "True"
    assert "spec.timeZone" in stalled.message and "Mars/Olympus" in stalled.message


def test_manual_request_starts_one_run_per_new_value() -> None:
    spec = make_spec()
    status = _idle(spec)
    p = step(spec, status, observe(0, run_requested="2026-11-25T12:00:00Z"))
    assert p.status.current_run is not None
    assert p.status.current_run.trigger == RunTrigger.MANUAL
    assert p.status.current_run.id == "2"
    # The same value again changes nothing.
    again = step(spec, p.status, observe(1, run_requested="2026-11-25T12:00:00Z", polled=True))
    assert again.status.pending_triggers == []


def test_triggers_during_a_run_are_remembered_and_start_the_next_run() -> None:
    spec = make_spec()
    p = step(spec, _idle(spec), observe(0, run_requested="one"))
    p = step(spec, p.status, observe(1, run_requested="one", polled=True))
    building = (job("unit-tests-2-build", run_id="2", step="build"),)
    p = step(spec, p.status, observe(2, run_requested="two", jobs=building))
    p = step(spec, p.status, observe(3, run_requested="three", jobs=building))
    assert [t.detail for t in p.status.pending_triggers] == [
        "run-requested=two",
        "run-requested=three",
    ]
    failed = (
        job("unit-tests-2-build", JobState.FAILED, run_id="2", step="build", reason="exit 1"),
    )
    p = step(spec, p.status, observe(4, run_requested="three", jobs=failed))
    assert p.status.current_run is None and len(p.status.pending_triggers) == 2
    p = step(spec, p.status, observe(5, run_requested="three"))
    assert p.status.current_run is not None and p.status.current_run.id == "3"
    assert [t.detail for t in p.status.pending_triggers] == ["run-requested=three"]


def test_automatic_triggers_during_a_run_collapse_into_one() -> None:
    spec = make_spec(schedule="* * * * *")
    status = _idle(
        spec,
        nextRunAt="2026-11-25T12:01:00Z",
        currentRun={"id": "2", "trigger": "Manual", "phase": "Building"},
    )
    p = step(spec, status, observe(61))
    p = step(spec, p.status, observe(121))
    assert [t.trigger for t in p.status.pending_triggers] == [RunTrigger.SCHEDULE]


def test_base_image_change_fires_once() -> None:
    spec = make_spec(triggers={"pollInterval": "5m"})
    observed = {
        "sourceRevision": "cfg-1",
        "baseImageDigests": {"busybox": BASE_1},
    }
    status = _idle(spec, observed=observed)
    assert poll_due(spec, status, NOW)
    same = step(
        spec,
        status,
        observe(0, polled=True, source_revision="cfg-1", base_image_digests={"busybox": BASE_1}),
    )
    assert same.status.current_run is None
    assert not poll_due(spec, same.status, NOW + timedelta(minutes=4))
    assert poll_due(spec, same.status, NOW + timedelta(minutes=5))
    bumped = step(
        spec,
        same.status,
        observe(300, polled=True, source_revision="cfg-1", base_image_digests={"busybox": BASE_2}),
    )
    assert bumped.status.current_run is not None
    assert bumped.status.current_run.trigger == RunTrigger.BASE_IMAGE
    assert "busybox" in bumped.status.current_run.message
    assert bumped.status.observed is not None
    assert bumped.status.observed.base_image_digests == {"busybox": BASE_2}


def test_source_change_fires_but_the_first_observation_does_not() -> None:
    spec = make_spec()
    status = _idle(spec)
    first = step(spec, status, observe(0, polled=True, source_revision="abc"))
    assert first.status.current_run is None
    assert first.status.observed is not None
    assert first.status.observed.source_revision == "abc"
    assert first.status.observed.polled_at == observe(0).now
    changed = step(spec, first.status, observe(400, polled=True, source_revision="def"))
    assert changed.status.current_run is not None
    assert changed.status.current_run.trigger == RunTrigger.SOURCE


def test_disabled_triggers_do_not_fire() -> None:
    spec = make_spec(triggers={"source": False, "baseImage": False})
    status = _idle(spec, observed={"sourceRevision": "abc", "baseImageDigests": {"b": BASE_1}})
    assert not poll_due(spec, status, NOW)
    p = step(
        spec,
        status,
        observe(0, polled=True, source_revision="def", base_image_digests={"b": BASE_2}),
    )
    assert p.status.current_run is None


def test_a_change_to_what_runs_build_starts_a_run_other_spec_changes_do_not() -> None:
    spec = make_spec()
    p = step(spec, _idle(spec), observe(0))  # records what the spec builds; no run
    assert p.status.current_run is None
    settled = p.status
    for quiet in (
        make_spec(historyLimit=9),
        make_spec(schedule="0 3 * * *"),
        make_spec(triggers={"pollInterval": "1h"}),
        make_spec(notify={"webhook": {"url": "http://hook.test/x"}}),
    ):
        p = step(quiet, settled, observe(1, generation=2))
        assert p.status.current_run is None, quiet
    changed = make_spec(
        tests=[{"name": "smoke", "command": ["/bin/false"], "timeout": "1m"}],
    )
    p = step(changed, settled, observe(2, generation=3))
    assert p.status.current_run is not None
    assert p.status.current_run.trigger == RunTrigger.SPEC
    assert p.status.observed_generation == 3
    again = step(changed, p.status, observe(3, generation=3))
    assert again.status.pending_triggers == []


def test_unsuspending_does_not_start_a_run_by_itself() -> None:
    suspended = make_spec(suspend=True)
    p = step(suspended, _idle(suspended), observe(0))
    p = step(make_spec(), p.status, observe(1, generation=2))
    assert p.status.current_run is None


def test_suspend_starts_nothing_and_does_not_replay_later() -> None:
    spec = make_spec(suspend=True, schedule="* * * * *")
    p = step(spec, _idle(spec), observe(0, run_requested="x"))
    assert p.status.current_run is None and p.status.pending_triggers == []
    assert p.status.next_run_at is None
    assert any(e.reason == "Suspended" for e in p.events)
    suspended = next(c for c in p.status.conditions if c.type == "Suspended")
    assert suspended.status == "True"
    resumed = make_spec(schedule="* * * * *")
    p = step(resumed, p.status, observe(10, run_requested="x"))
    assert p.status.current_run is None  # the request seen while suspended is not replayed


def test_a_run_in_flight_finishes_when_suspended() -> None:
    spec = make_spec(suspend=True)
    status = _idle(
        spec,
        currentRun={
            "id": "2",
            "trigger": "Manual",
            "phase": "Building",
            "buildJob": "unit-tests-2-build",
        },
    )
    p = step(spec, status, observe(0, jobs=(built(run_id="2"),)))
    assert p.status.current_run is not None
    assert p.status.current_run.phase == RunPhase.TESTING
    assert p.status.candidate_digest == DIGEST_A


@pytest.mark.parametrize("expression", ["61 * * * *", "not cron"])
def test_invalid_cron_is_reported(expression: str) -> None:
    with pytest.raises(ValueError, match=r"spec\.schedule"):
        next_fire_time(expression, "UTC", NOW)


def test_the_poll_resolving_a_starting_run_does_not_queue_another() -> None:
    spec = make_spec()
    status = _idle(spec, observed={"sourceRevision": "old"})
    p = step(spec, status, observe(0, run_requested="go"))
    assert p.status.current_run is not None
    p = step(spec, p.status, observe(1, run_requested="go", polled=True, source_revision="new"))
    assert p.status.pending_triggers == []
    assert p.status.current_run is not None
    assert p.status.current_run.source_revision == "new"
    assert p.status.observed is not None and p.status.observed.source_revision == "new"


def test_an_object_that_was_invalid_at_creation_runs_once_fixed() -> None:
    spec = make_spec()
    # The validation handler reported Stalled for generation 1 (observedGeneration set).
    invalid = ContainerImageRefreshStatus.model_validate({"observedGeneration": 1})
    p = step(spec, invalid, observe(0, generation=2))
    assert p.status.current_run is not None
    assert p.status.current_run.trigger == RunTrigger.SPEC
