"""The first half of a run: resolve its inputs (Pending), then build (Building)."""

from __future__ import annotations

from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import ObservedInputs, RunPhase, TestRunState
from shakedown.planning.imagerefresh.observed import (
    Action,
    CreateBuildJob,
    DeleteJob,
    EmitEvent,
    JobState,
)
from shakedown.planning.imagerefresh.run.context import RunContext
from shakedown.planning.imagerefresh.run.records import (
    Step,
    build_job_name,
    candidate_tag,
    cannot_start,
    describe_source,
    phase_start,
    tail_suffix,
    timing,
    with_run,
)
from shakedown.planning.imagerefresh.run.scenarios import create_tests


def resolve_inputs(ctx: RunContext) -> Step:
    """Pending: once the source is polled, record its revision and ask for the build."""
    spec, run, obs = ctx.spec, ctx.run, ctx.observed
    if not obs.polled:
        return ctx.stay()  # the handler polls while a run is Pending
    if obs.poll_error and spec.source.git is not None and obs.source_revision is None:
        return ctx.fail(f"cannot resolve source revision: {obs.poll_error}")
    revision = obs.source_revision
    job = build_job_name(ctx.resource, run.id)
    updated = run.evolve(
        phase=RunPhase.BUILDING,
        source_revision=revision,
        base_image_digests=dict(obs.base_image_digests),
        phases=timing(run.phases, "Build", started=obs.now),
    )
    return ctx.move(
        updated,
        EmitEvent(
            type="Normal",
            reason="Building",
            message=f"run {run.id}: building {spec.image} from {describe_source(spec, revision)}"[
                :1024
            ],
        ),
        CreateBuildJob(
            run_id=run.id,
            job_name=job,
            source_revision=revision,
            candidate_tag=candidate_tag(ctx.resource, run.id),
        ),
    )


def build(ctx: RunContext) -> Step:
    """Building: watch the build Job; on its report, record the candidate and start tests."""
    spec, run, obs = ctx.spec, ctx.run, ctx.observed
    name = build_job_name(ctx.resource, run.id)
    job = obs.job(name)
    if job is None:
        if run.build_job:
            return ctx.fail(f"build Job {name} disappeared before it finished")
        create = CreateBuildJob(
            run_id=run.id,
            job_name=name,
            source_revision=run.source_revision,
            candidate_tag=candidate_tag(ctx.resource, run.id),
        )
        return ctx.stay(create)
    if run.build_job != name:
        ctx = ctx.recorded(run.evolve(build_job=name))
        run = ctx.run
    if job.state == JobState.RUNNING:
        started = phase_start(run, "Build") or job.started_at or obs.now
        limit = parse_duration(spec.build_timeout)
        if cannot_start(job.reason, obs.now - started):
            return ctx.fail(
                f"build pod cannot start: {job.reason}", extra=(DeleteJob(job_name=name),)
            )
        if (obs.now - started).total_seconds() >= limit:
            return ctx.fail(
                f"build timed out after {spec.build_timeout}" + tail_suffix(job.log_tail),
                extra=(DeleteJob(job_name=name),),
            )
        message = f"building ({job.reason})" if job.reason else "building"
        if run.message != message:
            return ctx.move(run.evolve(message=message))
        return ctx.stay()
    if job.state == JobState.FAILED:
        reason = job.reason or "build failed"
        return ctx.fail(f"build failed: {reason}" + tail_suffix(job.log_tail))
    report = job.report
    if report is None or not report.digest:
        return ctx.fail("build succeeded but reported no digest" + tail_suffix(job.log_tail))
    finished = job.finished_at or obs.now
    tests = [TestRunState(name=test.name) for test in spec.tests]
    updated = run.evolve(
        phase=RunPhase.TESTING,
        candidate_digest=report.digest,
        candidate_reference=f"{spec.image}@{report.digest}",
        source_revision=report.revision or run.source_revision,
        base_image_digests={**run.base_image_digests, **report.base_images},
        tests=tests,
        message=f"testing {len(tests)} scenario(s)",
        phases=timing(timing(run.phases, "Build", finished=finished), "Test", started=obs.now),
    )
    observed = ctx.status.observed
    if observed is not None or report.base_images or report.revision:
        base = observed or ObservedInputs()
        observed = base.evolve(
            base_image_digests={**base.base_image_digests, **report.base_images},
            source_revision=report.revision or base.source_revision,
        )
    new = with_run(ctx.status, updated).evolve(candidate_digest=report.digest, observed=observed)
    actions: list[Action] = [
        EmitEvent(
            type="Normal",
            reason="Built",
            message=f"run {run.id}: built and pushed {spec.image}@{report.digest}",
        ),
        EmitEvent(
            type="Normal",
            reason="Testing",
            message=f"run {run.id}: running {len(tests)} scenario(s) on {report.digest}: "
            + ", ".join(t.name for t in tests),
        ),
    ]
    actions.extend(create_tests(ctx.resource, updated))
    return Step(status=new, actions=tuple(actions))
