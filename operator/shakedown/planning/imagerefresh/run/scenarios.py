"""Testing: one Job per scenario on the candidate digest, then the verdict."""

from __future__ import annotations

from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import (
    CurrentRun,
    FailedTest,
    RunPhase,
    TestPhase,
    TestRunState,
)
from shakedown.planning.imagerefresh.observed import (
    Action,
    CreateTestJob,
    DeleteJob,
    EmitEvent,
    JobState,
    MoveTag,
)
from shakedown.planning.imagerefresh.run.context import RunContext
from shakedown.planning.imagerefresh.run.records import (
    FINISHED_TESTS,
    Resource,
    Step,
    cannot_start,
    ended,
    scenario_job_name,
    timing,
)


def create_tests(resource: Resource, run: CurrentRun) -> list[Action]:
    """The Jobs of every scenario not yet finished, all started at once."""
    assert run.candidate_reference is not None
    return [
        CreateTestJob(
            run_id=run.id,
            job_name=scenario_job_name(resource, run.id, test.name),
            scenario=test.name,
            image=run.candidate_reference,
        )
        for test in run.tests
        if test.phase in (TestPhase.PENDING, TestPhase.RUNNING)
    ]


def test(ctx: RunContext) -> Step:
    """Testing: follow each scenario's Job; when all are done, fail, validate or promote."""
    spec, run, obs = ctx.spec, ctx.run, ctx.observed
    scenarios = {test.name: test for test in spec.tests}
    actions: list[Action] = []
    tests: list[TestRunState] = []
    for test in run.tests:
        if test.phase in FINISHED_TESTS:
            tests.append(test)
            continue
        name = scenario_job_name(ctx.resource, run.id, test.name)
        job = obs.job(name)
        scenario = scenarios.get(test.name)
        if scenario is None:
            tests.append(
                ended(test, TestPhase.ERROR, "scenario was removed from spec.tests", "", obs.now)
            )
            if job is not None:
                actions.append(DeleteJob(job_name=name))
            continue
        if job is None:
            if test.job:
                tests.append(ended(test, TestPhase.ERROR, f"Job {name} disappeared", "", obs.now))
                continue
            assert run.candidate_reference is not None
            actions.append(
                CreateTestJob(
                    run_id=run.id,
                    job_name=name,
                    scenario=test.name,
                    image=run.candidate_reference,
                )
            )
            tests.append(test)
            continue
        started = test.started_at or job.started_at or obs.now
        test = test.evolve(job=name, phase=TestPhase.RUNNING, started_at=started)
        if job.state == JobState.SUCCEEDED:
            tests.append(ended(test, TestPhase.PASSED, "", "", job.finished_at or obs.now))
        elif job.state == JobState.FAILED:
            tests.append(
                ended(
                    test,
                    TestPhase.FAILED,
                    job.reason or "failed",
                    job.log_tail,
                    job.finished_at or obs.now,
                )
            )
        elif cannot_start(job.reason, obs.now - started):
            tests.append(ended(test, TestPhase.ERROR, job.reason, "", obs.now))
            actions.append(DeleteJob(job_name=name))
        elif (obs.now - started).total_seconds() >= parse_duration(scenario.timeout):
            reason = f"timed out after {scenario.timeout}"
            if job.reason:
                reason += f" ({job.reason})"
            tests.append(ended(test, TestPhase.ERROR, reason, job.log_tail, obs.now))
            actions.append(DeleteJob(job_name=name))
        else:
            if job.reason != test.reason:
                test = test.evolve(reason=job.reason)
            tests.append(test)
    run = run.evolve(tests=tests)
    if not all(test.phase in FINISHED_TESTS for test in tests):
        return ctx.move(run, *actions)
    return _verdict(ctx, run, actions)


def _verdict(ctx: RunContext, run: CurrentRun, actions: list[Action]) -> Step:
    """All scenarios finished: any failure fails the run; else validate or start promoting."""
    spec, obs = ctx.spec, ctx.observed
    tests = run.tests
    finished = max((t.finished_at for t in tests if t.finished_at), default=obs.now)
    run = run.evolve(phases=timing(run.phases, "Test", finished=finished))
    ctx = ctx.with_run(run)
    failed = [
        FailedTest(name=t.name, reason=t.reason, log_tail=t.log_tail)
        for t in tests
        if t.phase != TestPhase.PASSED
    ]
    if failed:
        names = ", ".join(f"{f.name} ({f.reason})" for f in failed)
        return ctx.fail(
            f"{len(failed)} of {len(tests)} scenario(s) failed: {names}; tag {spec.tag} not moved",
            failed=failed,
            extra=tuple(actions),
        )
    if not spec.promote:
        return ctx.validate(
            f"all {len(tests)} scenario(s) passed; promote is false, tag {spec.tag} not moved",
            extra=tuple(actions),
        )
    digest = run.candidate_digest
    assert digest is not None
    run = run.evolve(
        phase=RunPhase.PROMOTING,
        message=f"moving {spec.tag} to {run.candidate_digest}",
        phases=timing(run.phases, "Promote", started=obs.now),
    )
    actions.append(
        EmitEvent(
            type="Normal",
            reason="Promoting",
            message=f"run {run.id}: all {len(tests)} scenario(s) passed; "
            f"moving {spec.tag} to {run.candidate_digest}",
        )
    )
    actions.append(MoveTag(digest=digest, why="promote"))
    return ctx.move(run, *actions)
