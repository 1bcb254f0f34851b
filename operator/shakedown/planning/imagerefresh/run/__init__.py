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

The phases live in their own modules (``build``, ``scenarios``, ``promote``,
``endings``), each deciding from one ``RunContext``; this module starts runs,
dispatches on the phase, and re-exports the names other code uses.
"""

from __future__ import annotations

from datetime import datetime

from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    PendingTrigger,
    RunPhase,
    TestPhase,
)
from shakedown.planning.imagerefresh.observed import EmitEvent, Observation
from shakedown.planning.imagerefresh.run import scenarios
from shakedown.planning.imagerefresh.run.build import build, resolve_inputs
from shakedown.planning.imagerefresh.run.context import RunContext
from shakedown.planning.imagerefresh.run.promote import promote
from shakedown.planning.imagerefresh.run.records import (
    DEADLINE_GRACE_SECONDS,
    MAX_JOB_NAME,
    RECENT_RUNS,
    START_GRACE_SECONDS,
    Resource,
    Step,
    build_job_name,
    candidate_tag,
    next_run_id,
    phase_seconds,
    phase_start,
    scenario_job_name,
    summarize,
)

__all__ = [
    "DEADLINE_GRACE_SECONDS",
    "MAX_JOB_NAME",
    "RECENT_RUNS",
    "START_GRACE_SECONDS",
    "Resource",
    "RunContext",
    "Step",
    "advance",
    "build_job_name",
    "candidate_tag",
    "logs_wanted",
    "next_run_id",
    "phase_seconds",
    "scenario_job_name",
    "start",
    "summarize",
]


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
    new = status.evolve(current_run=run, last_run=summarize(run, now=None))
    event = EmitEvent(
        type="Normal",
        reason="RunStarted",
        message=f"run {run_id} started ({trigger.trigger}: {trigger.detail})"[:1024],
    )
    return Step(status=new, actions=(event,))


def advance(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    obs: Observation,
    resource: Resource,
) -> Step:
    """One step of the run in flight (no-op without one)."""
    ctx = RunContext.of(spec, status, obs, resource)
    if ctx is None:
        return Step(status=status)
    phase = ctx.run.phase
    if phase == RunPhase.PENDING:
        return resolve_inputs(ctx)
    if phase == RunPhase.BUILDING:
        return build(ctx)
    if phase == RunPhase.TESTING:
        return scenarios.test(ctx)
    if phase == RunPhase.PROMOTING:
        return promote(ctx)
    # A finished phase left in currentRun (older operator): close it.
    return ctx.end(phase, ctx.run.message)


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
        started = phase_start(run, "Build")
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
