"""What the ContainerImageRefresh planner sees and what it asks for.

The planner is pure: adapters gather an ``Observation`` (Jobs of the resource,
polled source revision and base image digests, where the tag points, the
steering annotations), the planner returns the next status and a list of
``Action`` values, and the handler carries the actions out *after* the new
status is stored. Every action is idempotent (create-if-absent, move-if-not-
already-there), so replaying a plan after a crash changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shakedown.api.imagerefresh import NotifyEvent, RunSummary
from shakedown.planning.decision import EventNote


@dataclass(frozen=True, kw_only=True)
class Resource:
    """The identity of the ContainerImageRefresh being planned for."""

    namespace: str
    name: str


class JobState(StrEnum):
    """Where a Job of a run is, reduced to what the planner needs."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True, kw_only=True)
class BuildReport:
    """What a successful build pod reported (its termination message)."""

    digest: str | None
    """Digest of the pushed candidate manifest."""
    revision: str | None = None
    """Commit the build checked out (git sources)."""
    base_images: Mapping[str, str] = field(default_factory=dict)
    """Base image reference (FROM) -> digest used by the build."""


@dataclass(frozen=True, kw_only=True)
class JobObservation:
    """One Job labelled as belonging to the resource."""

    name: str
    run_id: str
    step: str
    """``build`` or ``test``."""
    scenario: str = ""
    """Test scenario name for ``test`` Jobs."""
    state: JobState
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""
    """Why it failed (exit code, deadline) or why it waits (image pull)."""
    log_tail: str = ""
    """Last lines of the pod's log, when fetched."""
    report: BuildReport | None = None
    """Parsed termination message of a finished build pod."""


@dataclass(frozen=True, kw_only=True)
class Observation:
    """Everything observed for one resource in one reconcile pass."""

    now: datetime
    """The planner's clock: ``plan`` stamps its ``now`` here, and no phase reads another."""
    resource: Resource
    """Which resource was observed (Job names and candidate tags derive from it)."""
    generation: int
    run_requested: str | None = None
    """Value of the shakedown.dev/run-requested annotation."""
    rollback_to: str | None = None
    """Value of the shakedown.dev/rollback-to annotation."""
    jobs: tuple[JobObservation, ...] = ()
    polled: bool = False
    """Whether source and base images were polled in this pass."""
    source_revision: str | None = None
    """Resolved source revision (commit or ConfigMap content hash), when polled."""
    base_image_digests: Mapping[str, str] = field(default_factory=dict)
    """Current digests of the known base images, when polled."""
    poll_error: str = ""
    """Why polling failed, if it did."""
    tag_digest: str | None = None
    """Digest the consumer tag points to, when resolved in this pass."""
    tag_resolved: bool = False
    """Whether ``tag_digest`` was resolved in this pass (None then means: no such tag)."""

    def job(self, name: str) -> JobObservation | None:
        for job in self.jobs:
            if job.name == name:
                return job
        return None


# --------------------------------------------------------------------------- actions
@dataclass(frozen=True, kw_only=True)
class CreateBuildJob:
    """Create the build Job of a run (no-op when it exists)."""

    run_id: str
    job_name: str
    source_revision: str | None
    """Exact revision to check out; the spec's revision when unknown."""
    candidate_tag: str
    """Tag the candidate is pushed under (the run's own, never the consumer tag)."""


@dataclass(frozen=True, kw_only=True)
class CreateTestJob:
    """Create the Job of one test scenario (no-op when it exists)."""

    run_id: str
    job_name: str
    scenario: str
    image: str
    """``repository@sha256:...``: the candidate, by digest."""


@dataclass(frozen=True, kw_only=True)
class DeleteJob:
    """Delete a Job and its pods (no-op when gone)."""

    job_name: str


@dataclass(frozen=True, kw_only=True)
class MoveTag:
    """Point the consumer tag at a digest already in the registry (no-op when it does)."""

    digest: str
    why: str
    """``promote`` or ``rollback``."""


EmitEvent = EventNote
"""A Kubernetes Event on the resource: the phases list it among their actions, and
``plan`` hands it back in the decision's ``events``, the same as an InfraRollout's."""


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    """A run ended: count it, time its phases, and notify if configured."""

    summary: RunSummary
    notify: NotifyEvent
    phase_seconds: Mapping[str, float] = field(default_factory=dict)
    """Duration of each phase that ran (build, test, promote) and of the whole run."""


Effect = CreateBuildJob | CreateTestJob | DeleteJob | MoveTag | RunFinished
"""What the runner carries out once the status is stored."""
Action = Effect | EmitEvent
"""What a phase asks for: an effect, or an Event to post."""
