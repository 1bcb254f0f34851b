"""The run context: how a run's step ends (fail, validate, succeed) and stays or moves."""

from __future__ import annotations

from shakedown.api.imagerefresh import (
    ContainerImageRefreshStatus,
    CurrentRun,
    PhaseTiming,
    RunPhase,
    RunTrigger,
)
from shakedown.planning.imagerefresh.observed import DeleteJob, EmitEvent, RunFinished
from shakedown.planning.imagerefresh.run import RunContext
from tests.unit.imagerefresh_helpers import DIGEST_A, NOW, RES, job, make_spec, observe


def _context(phase: RunPhase = RunPhase.TESTING) -> RunContext:
    run = CurrentRun(
        id="2",
        trigger=RunTrigger.SPEC,
        phase=phase,
        started_at=NOW,
        candidate_digest=DIGEST_A,
        phases=[PhaseTiming(name="Test", started_at=NOW)],
    )
    status = ContainerImageRefreshStatus(current_run=run)
    jobs = (
        job("unit-tests-2-test-smoke", run_id="2"),
        job("unit-tests-2-test-full", run_id="2"),
        job("unit-tests-1-test-smoke", run_id="1"),
    )
    ctx = RunContext.of(make_spec(), status, observe(30, jobs=jobs), RES)
    assert ctx is not None
    return ctx


def test_no_context_without_a_run_in_flight() -> None:
    assert RunContext.of(make_spec(), ContainerImageRefreshStatus(), observe(0), RES) is None


def test_fail_closes_the_run_and_deletes_only_its_own_jobs_once() -> None:
    ctx = _context()
    first = DeleteJob(job_name="unit-tests-2-test-smoke")
    step = ctx.fail("smoke failed", extra=(first,))

    assert step.status.current_run is None
    last = step.status.last_run
    assert last is not None and last.phase == RunPhase.FAILED and last.message == "smoke failed"
    assert [p.finished_at for p in last.phases] == [ctx.now]
    assert step.status.promoted_digest is None and step.status.history == []
    assert step.actions[0] == first
    event = step.actions[1]
    assert isinstance(event, EmitEvent)
    assert (event.type, event.reason) == ("Warning", "RunFailed")
    finished = step.actions[2]
    assert isinstance(finished, RunFinished) and finished.notify == "Failed"
    assert step.actions[3:] == (DeleteJob(job_name="unit-tests-2-test-full"),)


def test_validate_ends_without_touching_the_tag_record() -> None:
    step = _context().validate("all passed; promote is false")
    last = step.status.last_run
    assert last is not None and last.phase == RunPhase.VALIDATED
    assert step.status.promoted_digest is None and step.status.history == []
    assert [a.reason for a in step.actions if isinstance(a, EmitEvent)] == ["Validated"]


def test_succeed_records_the_promotion_in_history() -> None:
    step = _context(RunPhase.PROMOTING).succeed("promoted")
    assert step.status.promoted_digest == DIGEST_A
    assert [(h.digest, h.run_id) for h in step.status.history] == [(DIGEST_A, "2")]
    finished = [a for a in step.actions if isinstance(a, RunFinished)]
    assert len(finished) == 1 and finished[0].notify == "Promoted"


def test_stay_keeps_status_and_move_stores_the_new_run() -> None:
    ctx = _context()
    assert ctx.stay().status == ctx.status and ctx.stay().actions == ()
    moved = ctx.run.model_copy(update={"message": "still testing"})
    step = ctx.move(moved)
    assert step.status.current_run == moved
    assert step.status.last_run is not None and step.status.last_run.message == "still testing"
