"""The ContainerImageRefresh planner: observed state in, next status and actions out.

``plan(spec, status, observed, now) -> Decision`` is the only entry point,
the same shape as the InfraRollout planner's, so one runner drives both. It combines the concerns
kept in separate modules: ``triggers`` (what starts a run), ``run`` (the
build -> test -> promote state machine), ``history`` (promoted digests and
rollback). It performs no I/O and reads no clock but ``now``: the same status and
observation always give the same plan, which is what the unit tests pin down
and what makes a restarted operator continue exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeAlias

from shakedown.api.common import Condition, ConditionStatus
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.conditions import set_condition
from shakedown.planning import decision
from shakedown.planning.decision import EventNote
from shakedown.planning.imagerefresh import history, run, triggers
from shakedown.planning.imagerefresh.observed import (
    Action,
    DeleteJob,
    Effect,
    EmitEvent,
    Observation,
)
from shakedown.planning.imagerefresh.run import Resource

__all__ = ["Decision", "Plan", "Resource", "plan"]

Decision: TypeAlias = decision.Decision[ContainerImageRefreshStatus, Effect]
"""The shared decision shape, with the refresh's status and effects."""
Plan: TypeAlias = Decision
"""The name the planner tests grew up with."""


def plan(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    observed: Observation,
    now: datetime,
) -> Decision:
    """The next status, Events and effects for the resource ``observed`` names."""
    obs = observed if observed.now == now else replace(observed, now=now)
    resource = obs.resource
    before = status
    actions: list[Action] = []

    detected = triggers.detect(spec, status, obs)
    status = detected.status
    if detected.ignored:
        kinds = ", ".join(str(t.trigger) for t in detected.ignored)
        actions.append(
            EmitEvent(
                type="Normal",
                reason="Suspended",
                message=f"spec.suspend is true: no run started for {kinds}",
            )
        )

    rollback = history.plan_rollback(spec, status, obs)
    status = rollback.status
    actions.extend(rollback.actions)

    if status.current_run is None and status.pending_triggers and not spec.suspend:
        first, *rest = status.pending_triggers
        step = run.start(spec, status.evolve(pending_triggers=rest), first, obs.now)
    else:
        step = run.advance(spec, status, obs, resource)
    status = step.status
    actions.extend(step.actions)

    # Jobs of any run but the one in flight are leftovers: remove them.
    current = status.current_run.id if status.current_run is not None else None
    deleting = {a.job_name for a in actions if isinstance(a, DeleteJob)}
    for job in obs.jobs:
        if job.run_id != current and job.name not in deleting:
            actions.append(DeleteJob(job_name=job.name))
            deleting.add(job.name)

    conditions = _conditions(spec, status, obs, detected.error, rollback.condition)
    status = status.evolve(conditions=conditions, observed_generation=obs.generation)
    events = tuple(a for a in actions if isinstance(a, EventNote))
    effects = tuple(a for a in actions if not isinstance(a, EventNote))
    # Acting can change what the next observation shows, and a run that
    # started or moved on may have work at once (e.g. resolve its inputs).
    again = bool(effects) or _run_moved(before, status)
    # Nothing in flight: sleep until the schedule or the next poll is due (or news).
    idle = not again and status.current_run is None and not status.pending_triggers
    return Decision(
        status=status,
        events=events,
        actions=effects,
        again=again,
        idle=idle,
        wake_at=triggers.next_due(spec, status, obs.now) if idle else None,
    )


def _run_moved(before: ContainerImageRefreshStatus, after: ContainerImageRefreshStatus) -> bool:
    """A run started or moved on to another phase."""
    old, new = before.current_run, after.current_run
    return (old.id, old.phase) != (new.id, new.phase) if old and new else old is not new


def _conditions(
    spec: ContainerImageRefreshSpec,
    status: ContainerImageRefreshStatus,
    obs: Observation,
    schedule_error: str,
    rollback: tuple[str, str, str] | None,
) -> list[Condition]:
    conditions = list(status.conditions)

    def put(type_: str, value: str, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions,
            Condition(
                type=type_,
                status=ConditionStatus(value),
                reason=reason,
                message=message[:32768],
                observed_generation=obs.generation,
                last_transition_time=obs.now,
            ),
        )

    current = status.current_run
    last = status.last_run
    finished = last if last is not None and last.phase.finished else None
    if finished is None and status.recent_runs:
        finished = status.recent_runs[0]
    if current is not None:
        put("Reconciling", "True", str(current.phase), f"run {current.id}: {current.message}")
    else:
        put("Reconciling", "False", "Idle", "no run in flight")
    if finished is None:
        put("Ready", "Unknown", "AwaitingFirstRun", "no run has finished yet")
    elif finished.phase == RunPhase.SUCCEEDED:
        put("Ready", "True", "Promoted", f"run {finished.id}: {finished.message}")
    elif finished.phase == RunPhase.VALIDATED:
        put("Ready", "True", "Validated", f"run {finished.id}: {finished.message}")
    else:
        put("Ready", "False", "RunFailed", f"run {finished.id}: {finished.message}"[:2000])
    if schedule_error:
        put("Stalled", "True", "InvalidSchedule", schedule_error)
    else:
        put("Stalled", "False", "AsExpected", "")
    if spec.suspend:
        put("Suspended", "True", "Suspended", "spec.suspend is true: no new runs start")
    elif any(c.type == "Suspended" for c in conditions):
        put("Suspended", "False", "Resumed", "")
    if rollback is not None:
        put("Rollback", *rollback)
    return conditions
