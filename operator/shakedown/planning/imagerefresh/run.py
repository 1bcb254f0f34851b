"""The life of one ContainerImageRefresh run: build, test, promote, or fail.

A run is recorded in ``status.currentRun`` before anything is done for it,
and every later decision is taken from that record plus the Jobs observed in
the cluster, never from memory. Job names derive from the resource and the
run id, so an operator restarted in any phase finds the Jobs it created
instead of creating new ones: the build runs once, each scenario runs once,
and promotion is asked for until the tag is *observed* at the candidate
digest, which a repeated request cannot change.

Phases: Pending (inputs are resolved) -> Building -> Testing -> Promoting ->
Succeeded; Testing -> Validated when ``promote`` is false; any phase ->
Failed. Timeouts are enforced here, with the pod's log captured first; the
Jobs' ``activeDeadlineSeconds`` is only the backstop for when the operator is
down.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    FailedTest,
    NotifyEvent,
    ObservedInputs,
    PendingTrigger,
    PhaseTiming,
    RunPhase,
    RunSummary,
    TestPhase,
    TestRunState,
)
from shakedown.planning.imagerefresh.history import record_promotion
from shakedown.planning.imagerefresh.observed import (
    Action,
    CreateBuildJob,
    CreateTestJob,
    DeleteJob,
    EmitEvent,
    JobState,
    MoveTag,
    Observation,
    RunFinished,
)

#: Kubernetes Job names end up in the ``job-name`` label: at most 63 characters.
MAX_JOB_NAME = 63
#: Finished runs kept in status.recentRuns.
RECENT_RUNS = 5
#: Extra seconds given to a Job's activeDeadlineSeconds beyond the timeout the
#: planner enforces, so the planner (which captures logs) normally acts first.
DEADLINE_GRACE_SECONDS = 60

#: A pod whose container cannot start (image pull, configuration) fails its step
#: after this long instead of waiting for the step's timeout.
START_GRACE_SECONDS = 90
_STUCK_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)

_FINISHED_TESTS = frozenset({TestPhase.PASSED, TestPhase.FAILED, TestPhase.ERROR})


@dataclass(frozen=True, kw_only=True)
class Resource:
    """The identity of the ContainerImageRefresh being planned for."""

    namespace: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Step:
    """A planning step: the next status and what to do once it is stored."""

    status: ContainerImageRefreshStatus
    actions: tuple[Action, ...] = ()


# --------------------------------------------------------------------------- names
def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-.')}-{digest}"


def build_job_name(resource: Resource, run_id: str) -> str:
    """Name of the build Job of a run (deterministic)."""
    return _bounded(f"{resource.name}-{run_id}-build", MAX_JOB_NAME)


def scenario_job_name(resource: Resource, run_id: str, scenario: str) -> str:
    """Name of the Job running one scenario of a run (deterministic)."""
    return _bounded(f"{resource.name}-{run_id}-test-{scenario}", MAX_JOB_NAME)


def candidate_tag(resource: Resource, run_id: str) -> str:
    """The run's own tag for the candidate push; the consumer tag is never pushed to."""
    return _bounded(f"shakedown-{resource.namespace}-{resource.name}-run-{run_id}", 128)


def next_run_id(status: ContainerImageRefreshStatus) -> str:
    """Run ids count up from 1 per resource."""
    numbers = [0]
    for run in (status.current_run, status.last_run, *status.recent_runs):
        if run is not None and run.id.isdigit():
            numbers.append(int(run.id))
    return str(max(numbers) + 1)


# --------------------------------------------------------------------------- start
def start(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    trigger: PendingTrigger,
    now: datetime,
) -> Step:
    """Record a new run (phase Pending): nothing is created before this is stored."""
    del spec
    run_id = next_run_id(status)
    run = CurrentRun(
        id=run_id,
        trigger=trigger.trigger,
        phase=RunPhase.PENDING,
        started_at=now,
        message=f"started by {trigger.detail or trigger.trigger}",
    )
    new = status.model_copy(update={"current_run": run, "last_run": summarize(run, now=None)})
    event = EmitEvent(
        type="Normal",
        reason="RunStarted",
        message=f"run {run_id} started ({trigger.trigger}: {trigger.detail})"[:1024],
    )
    return Step(status=new, actions=(event,))


# --------------------------------------------------------------------------- advance
def advance(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    obs: Observation,
    resource: Resource,
) -> Step:
    """One step of the run in flight (no-op without one)."""
    run = status.current_run
    if run is None:
        return Step(status=status)
    if run.phase == RunPhase.PENDING:
        return _resolve_inputs(spec, status, run, obs, resource)
    if run.phase == RunPhase.BUILDING:
        return _build(spec, status, run, obs, resource)
    if run.phase == RunPhase.TESTING:
        return _test(spec, status, run, obs, resource)
    if run.phase == RunPhase.PROMOTING:
        return _promote(spec, status, run, obs)
    # A finished phase left in currentRun (older operator): close it.
    return _finish(spec, status, run, obs, phase=run.phase, message=run.message)


def _resolve_inputs(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    obs: Observation,
    resource: Resource,
) -> Step:
    if not obs.polled:
        return Step(status=status)  # the handler polls while a run is Pending
    if obs.poll_error and spec.source.git is not None and obs.source_revision is None:
        return _finish(
            spec,
            status,
            run,
            obs,
            phase=RunPhase.FAILED,
            message=f"cannot resolve source revision: {obs.poll_error}",
        )
    revision = obs.source_revision
    job = build_job_name(resource, run.id)
    updated = run.model_copy(
        update={
            "phase": RunPhase.BUILDING,
            "source_revision": revision,
            "base_image_digests": dict(obs.base_image_digests),
            "phases": _timing(run.phases, "Build", started=obs.now),
        }
    )
    actions: tuple[Action, ...] = (
        EmitEvent(
            type="Normal",
            reason="Building",
            message=f"run {run.id}: building {spec.image} from {_describe_source(spec, revision)}"[
                :1024
            ],
        ),
        CreateBuildJob(
            run_id=run.id,
            job_name=job,
            source_revision=revision,
            candidate_tag=candidate_tag(resource, run.id),
        ),
    )
    return Step(status=_with_run(status, updated), actions=actions)


def _build(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    obs: Observation,
    resource: Resource,
) -> Step:
    name = build_job_name(resource, run.id)
    job = obs.job(name)
    if job is None:
        if run.build_job:
            return _finish(
                spec,
                status,
                run,
                obs,
                phase=RunPhase.FAILED,
                message=f"build Job {name} disappeared before it finished",
            )
        create = CreateBuildJob(
            run_id=run.id,
            job_name=name,
            source_revision=run.source_revision,
            candidate_tag=candidate_tag(resource, run.id),
        )
        return Step(status=status, actions=(create,))
    if run.build_job != name:
        run = run.model_copy(update={"build_job": name})
        status = _with_run(status, run)
    if job.state == JobState.RUNNING:
        started = _phase_start(run, "Build") or job.started_at or obs.now
        limit = parse_duration(spec.build_timeout)
        if _cannot_start(job.reason, obs.now - started):
            return _finish(
                spec,
                status,
                run,
                obs,
                phase=RunPhase.FAILED,
                message=f"build pod cannot start: {job.reason}",
                extra=(DeleteJob(job_name=name),),
            )
        if (obs.now - started).total_seconds() >= limit:
            return _finish(
                spec,
                status,
                run,
                obs,
                phase=RunPhase.FAILED,
                message=f"build timed out after {spec.build_timeout}" + _tail_suffix(job.log_tail),
                extra=(DeleteJob(job_name=name),),
            )
        message = f"building ({job.reason})" if job.reason else "building"
        if run.message != message:
            status = _with_run(status, run.model_copy(update={"message": message}))
        return Step(status=status)
    if job.state == JobState.FAILED:
        reason = job.reason or "build failed"
        return _finish(
            spec,
            status,
            run,
            obs,
            phase=RunPhase.FAILED,
            message=f"build failed: {reason}" + _tail_suffix(job.log_tail),
        )
    report = job.report
    if report is None or not report.digest:
        return _finish(
            spec,
            status,
            run,
            obs,
            phase=RunPhase.FAILED,
            message="build succeeded but reported no digest" + _tail_suffix(job.log_tail),
        )
    finished = job.finished_at or obs.now
    tests = [TestRunState(name=test.name) for test in spec.tests]
    updated = run.model_copy(
        update={
            "phase": RunPhase.TESTING,
            "candidate_digest": report.digest,
            "candidate_reference": f"{spec.image}@{report.digest}",
            "source_revision": report.revision or run.source_revision,
            "base_image_digests": {**run.base_image_digests, **report.base_images},
            "tests": tests,
            "message": f"testing {len(tests)} scenario(s)",
            "phases": _timing(
                _timing(run.phases, "Build", finished=finished), "Test", started=obs.now
            ),
        }
    )
    observed = status.observed
    if observed is not None or report.base_images or report.revision:
        base = observed or ObservedInputs()
        observed = base.model_copy(
            update={
                "base_image_digests": {**base.base_image_digests, **report.base_images},
                "source_revision": report.revision or base.source_revision,
            }
        )
    new = _with_run(status, updated).model_copy(
        update={"candidate_digest": report.digest, "observed": observed}
    )
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
    actions.extend(_create_tests(resource, updated))
    return Step(status=new, actions=tuple(actions))


def _create_tests(resource: Resource, run: CurrentRun) -> list[Action]:
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


def _test(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    obs: Observation,
    resource: Resource,
) -> Step:
    scenarios = {test.name: test for test in spec.tests}
    actions: list[Action] = []
    tests: list[TestRunState] = []
    for test in run.tests:
        if test.phase in _FINISHED_TESTS:
            tests.append(test)
            continue
        name = scenario_job_name(resource, run.id, test.name)
        job = obs.job(name)
        scenario = scenarios.get(test.name)
        if scenario is None:
            tests.append(
                _ended(test, TestPhase.ERROR, "scenario was removed from spec.tests", "", obs.now)
            )
            if job is not None:
                actions.append(DeleteJob(job_name=name))
            continue
        if job is None:
            if test.job:
                tests.append(_ended(test, TestPhase.ERROR, f"Job {name} disappeared", "", obs.now))
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
        test = test.model_copy(
            update={"job": name, "phase": TestPhase.RUNNING, "started_at": started}
        )
        if job.state == JobState.SUCCEEDED:
            tests.append(_ended(test, TestPhase.PASSED, "", "", job.finished_at or obs.now))
        elif job.state == JobState.FAILED:
            tests.append(
                _ended(
                    test,
                    TestPhase.FAILED,
                    job.reason or "failed",
                    job.log_tail,
                    job.finished_at or obs.now,
                )
            )
        elif _cannot_start(job.reason, obs.now - started):
            tests.append(_ended(test, TestPhase.ERROR, job.reason, "", obs.now))
            actions.append(DeleteJob(job_name=name))
        elif (obs.now - started).total_seconds() >= parse_duration(scenario.timeout):
            reason = f"timed out after {scenario.timeout}"
            if job.reason:
                reason += f" ({job.reason})"
            tests.append(_ended(test, TestPhase.ERROR, reason, job.log_tail, obs.now))
            actions.append(DeleteJob(job_name=name))
        else:
            if job.reason != test.reason:
                test = test.model_copy(update={"reason": job.reason})
            tests.append(test)
    run = run.model_copy(update={"tests": tests})
    if not all(test.phase in _FINISHED_TESTS for test in tests):
        return Step(status=_with_run(status, run), actions=tuple(actions))

    finished = max((t.finished_at for t in tests if t.finished_at), default=obs.now)
    run = run.model_copy(update={"phases": _timing(run.phases, "Test", finished=finished)})
    failed = [
        FailedTest(name=t.name, reason=t.reason, log_tail=t.log_tail)
        for t in tests
        if t.phase != TestPhase.PASSED
    ]
    if failed:
        names = ", ".join(f"{f.name} ({f.reason})" for f in failed)
        return _finish(
            spec,
            status,
            run,
            obs,
            phase=RunPhase.FAILED,
            message=f"{len(failed)} of {len(tests)} scenario(s) failed: {names}; "
            f"tag {spec.tag} not moved",
            failed=failed,
            extra=tuple(actions),
        )
    if not spec.promote:
        return _finish(
            spec,
            status,
            run,
            obs,
            phase=RunPhase.VALIDATED,
            message=f"all {len(tests)} scenario(s) passed; promote is false, "
            f"tag {spec.tag} not moved",
            extra=tuple(actions),
        )
    digest = run.candidate_digest
    assert digest is not None
    run = run.model_copy(
        update={
            "phase": RunPhase.PROMOTING,
            "message": f"moving {spec.tag} to {run.candidate_digest}",
            "phases": _timing(run.phases, "Promote", started=obs.now),
        }
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
    return Step(status=_with_run(status, run), actions=tuple(actions))


def _promote(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    obs: Observation,
) -> Step:
    assert run.candidate_digest is not None
    if not obs.tag_resolved:
        return Step(status=status)  # the handler resolves the tag while promoting
    if obs.tag_digest != run.candidate_digest:
        return Step(status=status, actions=(MoveTag(digest=run.candidate_digest, why="promote"),))
    run = run.model_copy(
        update={"promoted": True, "phases": _timing(run.phases, "Promote", finished=obs.now)}
    )
    return _finish(
        spec,
        status,
        run,
        obs,
        phase=RunPhase.SUCCEEDED,
        message=f"promoted {spec.image}:{spec.tag} -> {run.candidate_digest}",
    )


# --------------------------------------------------------------------------- finish
def _finish(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    obs: Observation,
    *,
    phase: RunPhase,
    message: str,
    failed: list[FailedTest] | None = None,
    extra: tuple[Action, ...] = (),
) -> Step:
    """Close the run: summary into lastRun/recentRuns, history on success, clean up."""
    now = obs.now
    phases = [
        p if p.finished_at is not None else p.model_copy(update={"finished_at": now})
        for p in run.phases
    ]
    run = run.model_copy(update={"phase": phase, "message": message, "phases": phases})
    summary = summarize(run, now=now, failed=failed or [])
    update: dict[str, object] = {
        "current_run": None,
        "last_run": summary,
        "recent_runs": [_without_logs(summary), *status.recent_runs][:RECENT_RUNS],
    }
    if phase == RunPhase.SUCCEEDED and run.candidate_digest:
        update["promoted_digest"] = run.candidate_digest
        update["history"] = record_promotion(
            status.history,
            digest=run.candidate_digest,
            run_id=run.id,
            at=now,
            limit=spec.history_limit,
        )
    new = status.model_copy(update=update)
    if phase == RunPhase.SUCCEEDED:
        event = EmitEvent(type="Normal", reason="Promoted", message=f"run {run.id}: {message}")
        notify = NotifyEvent.PROMOTED
    elif phase == RunPhase.VALIDATED:
        event = EmitEvent(type="Normal", reason="Validated", message=f"run {run.id}: {message}")
        notify = NotifyEvent.VALIDATED
    else:
        event = EmitEvent(type="Warning", reason="RunFailed", message=f"run {run.id}: {message}")
        notify = NotifyEvent.FAILED
    cleanup = tuple(
        DeleteJob(job_name=job.name)
        for job in obs.jobs
        if job.run_id == run.id and DeleteJob(job_name=job.name) not in extra
    )
    finished = RunFinished(summary=summary, notify=notify, phase_seconds=phase_seconds(summary))
    return Step(status=new, actions=(*extra, event, finished, *cleanup))


def phase_seconds(summary: RunSummary) -> dict[str, float]:
    """Duration of each finished phase, plus ``Run`` for the whole run."""
    seconds: dict[str, float] = {}
    for phase in summary.phases:
        if phase.started_at and phase.finished_at:
            seconds[phase.name] = max(0.0, (phase.finished_at - phase.started_at).total_seconds())
    if summary.started_at and summary.finished_at:
        seconds["Run"] = max(0.0, (summary.finished_at - summary.started_at).total_seconds())
    return seconds


def summarize(
    run: CurrentRun, *, now: datetime | None, failed: list[FailedTest] | None = None
) -> RunSummary:
    """The user-facing record of a run (``now`` is its end, None while it runs)."""
    return RunSummary(
        id=run.id,
        trigger=run.trigger,
        phase=run.phase,
        started_at=run.started_at,
        finished_at=now,
        candidate_digest=run.candidate_digest,
        source_revision=run.source_revision,
        failed_tests=failed or [],
        message=run.message,
        phases=list(run.phases),
    )


def logs_wanted(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    resource: Resource,
    now: datetime,
) -> frozenset[str]:
    """Jobs still running past their timeout, whose log must be read before they are stopped."""
    run = status.current_run
    if run is None:
        return frozenset()
    wanted: set[str] = set()
    if run.phase == RunPhase.BUILDING:
        started = _phase_start(run, "Build")
        if started and (now - started).total_seconds() >= parse_duration(spec.build_timeout):
            wanted.add(build_job_name(resource, run.id))
    if run.phase == RunPhase.TESTING:
        timeouts = {t.name: parse_duration(t.timeout) for t in spec.tests}
        for test in run.tests:
            limit = timeouts.get(test.name)
            if (
                test.phase == TestPhase.RUNNING
                and test.started_at is not None
                and limit is not None
                and (now - test.started_at).total_seconds() >= limit
            ):
                wanted.add(scenario_job_name(resource, run.id, test.name))
    return frozenset(wanted)


# --------------------------------------------------------------------------- helpers
def _cannot_start(reason: str, waited: timedelta) -> bool:
    """A pod stuck before its container runs (image pull, bad config) for too long."""
    return reason.startswith(_STUCK_REASONS) and waited.total_seconds() >= START_GRACE_SECONDS


def _with_run(status: ContainerImageRefreshStatus, run: CurrentRun) -> ContainerImageRefreshStatus:
    return status.model_copy(update={"current_run": run, "last_run": summarize(run, now=None)})


def _ended(
    test: TestRunState, phase: TestPhase, reason: str, log_tail: str, at: datetime
) -> TestRunState:
    return test.model_copy(
        update={
            "phase": phase,
            "reason": reason[:256],
            "log_tail": log_tail[-16384:],
            "finished_at": at,
            "started_at": test.started_at or at,
        }
    )


def _timing(
    phases: list[PhaseTiming],
    name: str,
    *,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> list[PhaseTiming]:
    out: list[PhaseTiming] = []
    found = False
    for phase in phases:
        if phase.name == name:
            found = True
            phase = phase.model_copy(
                update={
                    "started_at": phase.started_at or started,
                    "finished_at": finished or phase.finished_at,
                }
            )
        out.append(phase)
    if not found:
        out.append(PhaseTiming(name=name, started_at=started or finished, finished_at=finished))
    return out


def _phase_start(run: CurrentRun, name: str) -> datetime | None:
    for phase in run.phases:
        if phase.name == name:
            return phase.started_at
    return None


def _tail_suffix(log_tail: str) -> str:
    tail = log_tail.strip()
    return f"\n--- log tail ---\n{tail[-4000:]}" if tail else ""


def _without_logs(summary: RunSummary) -> RunSummary:
    return summary.model_copy(
        update={
            "failed_tests": [f.model_copy(update={"log_tail": ""}) for f in summary.failed_tests],
            "message": summary.message.split("\n--- log tail ---", 1)[0],
        }
    )


def _describe_source(spec: ContainerImageRefreshSpec, revision: str | None) -> str:
    if spec.source.git is not None:
        git = spec.source.git
        where = f"{git.url}@{revision or git.revision}"
        return f"{where} ({git.context_dir})" if git.context_dir else where
    assert spec.source.config_map is not None
    return f"ConfigMap {spec.source.config_map.name}"
