"""How a run ends: its summary, history on success, events, notification, cleanup."""

from __future__ import annotations

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    FailedTest,
    NotifyEvent,
    RunPhase,
)
from shakedown.planning.imagerefresh.history import record_promotion
from shakedown.planning.imagerefresh.observed import (
    Action,
    DeleteJob,
    EmitEvent,
    Observation,
    RunFinished,
)
from shakedown.planning.imagerefresh.run.records import (
    RECENT_RUNS,
    Step,
    phase_seconds,
    summarize,
    without_logs,
)


def finish(
    *,
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    run: CurrentRun,
    observed: Observation,
    phase: RunPhase,
    message: str,
    failed: list[FailedTest] | None = None,
    extra: tuple[Action, ...] = (),
) -> Step:
    """Close the run: summary into lastRun/recentRuns, history on success, clean up.

    Called only through ``RunContext.end`` (and its fail/validate/succeed).
    """
    now = observed.now
    phases = [p if p.finished_at is not None else p.evolve(finished_at=now) for p in run.phases]
    run = run.evolve(phase=phase, message=message, phases=phases)
    summary = summarize(run, now=now, failed=failed or [])
    new = status.evolve(
        current_run=None,
        last_run=summary,
        recent_runs=[without_logs(summary), *status.recent_runs][:RECENT_RUNS],
    )
    if phase == RunPhase.SUCCEEDED and run.candidate_digest:
        new = new.evolve(
            promoted_digest=run.candidate_digest,
            history=record_promotion(
                status.history,
                digest=run.candidate_digest,
                run_id=run.id,
                at=now,
                limit=spec.history_limit,
            ),
        )
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
        for job in observed.jobs
        if job.run_id == run.id and DeleteJob(job_name=job.name) not in extra
    )
    finished = RunFinished(summary=summary, notify=notify, phase_seconds=phase_seconds(summary))
    return Step(status=new, actions=(*extra, event, finished, *cleanup))
