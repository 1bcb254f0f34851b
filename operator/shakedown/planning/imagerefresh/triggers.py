"""What starts a ContainerImageRefresh run, and what is remembered while one runs.

Five things start a run: the object being created or what it builds changing
(image, tag, source, tests, promote: not suspend, schedule or limits), the
cron ``schedule`` (read in ``timeZone``), a new digest of a base image, a new
source revision, and each new value of the ``shakedown.dev/run-requested``
annotation. Detection only compares what was observed with what status
remembers, so it is pure and repeatable: the same observation never fires
twice, because the memory (``nextRunAt``, ``observed``, ``handledRunRequest``,
``observed.specDigest``) moves forward in the same status write that records
the trigger.

Triggers that arrive while a run is in flight wait in ``pendingTriggers``;
kinds other than manual requests collapse into one entry (two base image bumps
during a run need one more run, not two), while every manual request keeps
its own entry. While ``suspend`` is set nothing is queued: the memory still
moves forward, so resuming does not replay what happened meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    ObservedInputs,
    PendingTrigger,
    RunPhase,
    RunTrigger,
)
from shakedown.planning.imagerefresh.observed import Observation

#: At most this many triggers wait for the run in flight; older ones are dropped.
MAX_PENDING = 10


class ScheduleError(ValueError):
    """The schedule or its time zone cannot be evaluated (message names the field)."""


def next_fire_time(schedule: str, time_zone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``schedule`` fires, in UTC.

    The cron fields are read as wall-clock time in ``time_zone``; croniter
    handles the daylight saving gaps and repeats.
    """
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"spec.timeZone: unknown time zone {time_zone!r}") from exc
    if not croniter.is_valid(schedule):
        raise ScheduleError(f"spec.schedule: invalid cron expression {schedule!r}")
    local = after.astimezone(zone)
    fired: datetime = croniter(schedule, local).get_next(datetime)
    return fired.astimezone(UTC)


def poll_due(
    spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus, now: datetime
) -> bool:
    """Whether the source revision and base image digests should be polled now.

    Polling is also due when a run was just recorded (phase Pending): the run
    must build the revision that is current when it starts, and when resuming:
    that poll moves the memory forward without starting a run, so what changed
    while suspended is not replayed (and a suspended resource costs no polls).
    """
    if status.current_run is not None and status.current_run.phase == "Pending":
        return True
    if not (spec.triggers.source or spec.triggers.base_image) or spec.suspend:
        return False  # suspended: nothing is polled (resuming polls once, see ``resuming``)
    if resuming(spec, status):
        return True
    observed = status.observed
    if observed is None or observed.polled_at is None:
        return True
    interval = timedelta(seconds=parse_duration(spec.triggers.poll_interval))
    return now >= observed.polled_at + interval


def next_due(
    spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus, now: datetime
) -> datetime | None:
    """When a trigger may fire next without any news: the schedule or the next poll.

    None when only news can start a run (a spec edit, a run request): such a
    resource needs no timer at all.
    """
    due: list[datetime] = []
    if status.next_run_at is not None and spec.schedule is not None and not spec.suspend:
        due.append(status.next_run_at)
    if (spec.triggers.source or spec.triggers.base_image) and not spec.suspend:
        polled_at = status.observed.polled_at if status.observed is not None else None
        interval = timedelta(seconds=parse_duration(spec.triggers.poll_interval))
        due.append((polled_at or now) + interval)
    return min(due) if due else None


def resuming(spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus) -> bool:
    """``suspend`` was just turned off: status still says Suspended."""
    return not spec.suspend and any(
        c.type == "Suspended" and c.status == "True" for c in status.conditions
    )


@dataclass(frozen=True, kw_only=True)
class Detected:
    """The outcome of trigger detection for one observation."""

    status: ContainerImageRefreshStatus
    """Status with the trigger memory moved forward and new triggers queued."""
    fired: tuple[PendingTrigger, ...]
    """Triggers that fired in this observation (already queued unless suspended)."""
    ignored: tuple[PendingTrigger, ...] = ()
    """Triggers that fired while suspended."""
    error: str = ""
    """A problem with the schedule, naming the field."""


def detect(
    spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus, obs: Observation
) -> Detected:
    """Compare the observation with the remembered inputs and queue what fired."""
    now = obs.now
    fired: list[PendingTrigger] = []
    error = ""

    # Creation, and changes to what a run builds and tests.
    spec_changed = status.observed_generation != obs.generation
    observed = status.observed or ObservedInputs()
    digest = run_spec_digest(spec)
    if observed.spec_digest != digest:
        # Never run and nothing recorded: a new object (or one whose spec was invalid
        # until now). Recorded runs but no digest: an older status; just record it.
        created = observed.spec_digest is None and status.last_run is None
        if created or observed.spec_digest is not None:
            fired.append(
                PendingTrigger(
                    trigger=RunTrigger.SPEC,
                    requested_at=now,
                    detail="created" if created else f"spec changed (generation {obs.generation})",
                )
            )
        observed = observed.evolve(spec_digest=digest)

    # Schedule.
    next_run_at = status.next_run_at
    if spec.schedule is None or spec.suspend:
        next_run_at = None
    else:
        try:
            if next_run_at is None or spec_changed:
                next_run_at = next_fire_time(spec.schedule, spec.time_zone, now)
            elif now >= next_run_at:
                fired.append(
                    PendingTrigger(
                        trigger=RunTrigger.SCHEDULE,
                        requested_at=now,
                        detail=f"schedule {spec.schedule!r} ({spec.time_zone}) due at "
                        f"{next_run_at.strftime('%Y-%m-%dT%H:%M:%SZ')}",
                    )
                )
                next_run_at = next_fire_time(spec.schedule, spec.time_zone, now)
        except ScheduleError as exc:
            next_run_at, error = None, str(exc)

    # Polled inputs: source revision and base images.
    # A poll made to resolve the inputs of the run about to start is what that
    # run builds: it moves the memory forward but does not ask for another run.
    # So does the poll on resuming: what changed while suspended is not replayed.
    resolving = status.current_run is not None and status.current_run.phase == RunPhase.PENDING
    resolving = resolving or resuming(spec, status)
    if obs.polled and not obs.poll_error:
        if (
            not resolving
            and spec.triggers.source
            and obs.source_revision is not None
            and observed.source_revision is not None
            and obs.source_revision != observed.source_revision
        ):
            fired.append(
                PendingTrigger(
                    trigger=RunTrigger.SOURCE,
                    requested_at=now,
                    detail=f"source revision {_short(observed.source_revision)} -> "
                    f"{_short(obs.source_revision)}",
                )
            )
        changed = [
            ref
            for ref, digest in observed.base_image_digests.items()
            if ref in obs.base_image_digests and obs.base_image_digests[ref] != digest
        ]
        if spec.triggers.base_image and changed and not resolving:
            fired.append(
                PendingTrigger(
                    trigger=RunTrigger.BASE_IMAGE,
                    requested_at=now,
                    detail="base image "
                    + ", ".join(
                        f"{ref} -> {_short(obs.base_image_digests[ref])}" for ref in sorted(changed)
                    ),
                )
            )
        observed = observed.evolve(
            source_revision=obs.source_revision or observed.source_revision,
            base_image_digests={**observed.base_image_digests, **obs.base_image_digests},
            polled_at=now,
        )
    elif obs.polled:
        observed = observed.evolve(polled_at=now)

    # Manual requests: each new annotation value starts one run.
    handled_run_request = status.handled_run_request
    if obs.run_requested and obs.run_requested != status.handled_run_request:
        fired.append(
            PendingTrigger(
                trigger=RunTrigger.MANUAL,
                requested_at=now,
                detail=f"run-requested={obs.run_requested}"[:256],
            )
        )
        handled_run_request = obs.run_requested

    pending = list(status.pending_triggers)
    ignored: tuple[PendingTrigger, ...] = ()
    if spec.suspend:
        ignored = tuple(fired)
    else:
        for trigger in fired:
            pending = enqueue(pending, trigger)

    new_status = status.evolve(
        next_run_at=next_run_at,
        observed=observed if observed != ObservedInputs() else status.observed,
        handled_run_request=handled_run_request,
        pending_triggers=pending,
    )
    return Detected(status=new_status, fired=tuple(fired), ignored=ignored, error=error)


def run_spec_digest(spec: ContainerImageRefreshSpec) -> str:
    """A short hash of the spec fields that decide what a run builds, tests and promotes."""
    relevant = spec.model_dump(
        mode="json", by_alias=True, include={"image", "tag", "source", "tests", "promote"}
    )
    text = json.dumps(relevant, sort_keys=True)
    return "spec-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def enqueue(pending: list[PendingTrigger], trigger: PendingTrigger) -> list[PendingTrigger]:
    """Add a trigger to the queue: one entry per automatic kind, every manual request."""
    if trigger.trigger != RunTrigger.MANUAL:
        for index, queued in enumerate(pending):
            if queued.trigger == trigger.trigger:
                merged = queued.evolve(detail=trigger.detail)
                return [*pending[:index], merged, *pending[index + 1 :]]
    return [*pending, trigger][-MAX_PENDING:]


def _short(value: str) -> str:
    if value.startswith("sha256:"):
        return value[:19]
    return value[:12]
