"""The ContainerImageRefresh status: what users read, and the run in flight.

What users read is ``promotedDigest``, ``lastRun``, ``history``, ``nextRunAt`` and
``conditions``. ``currentRun`` is the operator's bookkeeping for the run in
flight, written after every step so that a restarted operator continues where it
stopped and never pushes, tests or promotes twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, computed_field

from shakedown.api.common import (
    Conditions,
    Digest,
    ImageReference,
    Message,
    ShortString,
    StatusModel,
    short_digest,
)


class RunTrigger(StrEnum):
    """Why a run started."""

    SCHEDULE = "Schedule"
    BASE_IMAGE = "BaseImage"
    SOURCE = "Source"
    MANUAL = "Manual"
    SPEC = "Spec"
    """The object was created or its spec changed."""


class RunPhase(StrEnum):
    PENDING = "Pending"
    BUILDING = "Building"
    TESTING = "Testing"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    VALIDATED = "Validated"
    """All tests passed in a validate-only run (promote: false); nothing was promoted."""
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_RUN_PHASES


_FINISHED_RUN_PHASES = frozenset(
    {RunPhase.SUCCEEDED, RunPhase.VALIDATED, RunPhase.FAILED, RunPhase.CANCELLED}
)


class TestPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"
    """The scenario could not run (image pull, timeout, Job deleted)."""


class FailedTest(StatusModel):
    """A scenario that did not pass, with the end of its log."""

    name: ShortString
    """Name of the scenario."""
    reason: ShortString = ""
    """Why: exit code, timeout, image pull error."""
    log_tail: Annotated[str, Field(max_length=16384)] = ""
    """Last lines of the scenario's log."""


class PhaseTiming(StatusModel):
    """When one phase of a run (Build, Test, Promote) started and ended."""

    name: ShortString
    """Build, Test or Promote."""
    started_at: datetime | None = None
    """When the phase started."""
    finished_at: datetime | None = None
    """When the phase ended; unset while it runs."""


class RunSummary(StatusModel):
    """The outcome of one run, as users read it."""

    id: ShortString
    """Run id (also a label on the run's Jobs)."""
    trigger: RunTrigger
    """What started the run."""
    phase: RunPhase
    """Where the run is or how it ended."""
    started_at: datetime | None = None
    """When the run started."""
    finished_at: datetime | None = None
    """When the run ended; unset while it runs."""
    candidate_digest: Digest | None = None
    """Digest the run built and tested."""
    source_revision: ShortString | None = None
    """Source revision (commit, ConfigMap hash) the run built."""
    failed_tests: list[FailedTest] = Field(default_factory=list)
    """Scenarios that failed."""
    message: Message = ""
    """One line for people."""
    phases: Annotated[list[PhaseTiming], Field(max_length=8)] = Field(default_factory=list)
    """Start and end of each phase that ran (Build, Test, Promote)."""


class HistoryEntry(StatusModel):
    """A digest that was promoted to the tag."""

    digest: Digest
    """The promoted digest."""
    promoted_at: datetime
    """When the tag was moved to it."""
    run_id: ShortString = ""
    """Run that promoted it; empty for a rollback made by request."""


class TestRunState(StatusModel):
    """Bookkeeping for one scenario of the run in flight."""

    name: ShortString
    """Name of the scenario (spec.tests[].name)."""
    job: ShortString | None = None
    """Name of the Job running the scenario, once created."""
    phase: TestPhase = TestPhase.PENDING
    """Where the scenario is or how it ended."""
    reason: ShortString = ""
    """Why it failed: exit code, timeout, image pull error."""
    log_tail: Annotated[str, Field(max_length=16384)] = ""
    """Last lines of the scenario's log."""
    started_at: datetime | None = None
    """When the scenario's Job started."""
    finished_at: datetime | None = None
    """When the scenario ended."""


class CurrentRun(StatusModel):
    """The run in flight, written after every step so a restart resumes it."""

    id: ShortString
    """Run id (also a label on the run's Jobs)."""
    trigger: RunTrigger
    """What started the run."""
    phase: RunPhase = RunPhase.PENDING
    """Where the run is."""
    started_at: datetime | None = None
    """When the run started."""
    source_revision: ShortString | None = None
    """Revision resolved at the start of the run; the build uses exactly this."""
    base_image_digests: dict[str, Digest] = Field(default_factory=dict)
    """Base image reference -> digest resolved at the start of the run."""
    build_job: ShortString | None = None
    """Name of the build Job, once created."""
    candidate_digest: Digest | None = None
    """Digest pushed by the build; set once, so the push is never repeated."""
    candidate_reference: ImageReference | None = None
    """repository@digest the tests run against."""
    tests: list[TestRunState] = Field(default_factory=list)
    """State of each scenario of this run."""
    promoted: StrictBool = False
    """The tag was moved; set right after the registry accepted the new manifest."""
    notified: StrictBool = False
    """The notification for this run went out."""
    message: Message = ""
    """One line for people."""
    phases: Annotated[list[PhaseTiming], Field(max_length=8)] = Field(default_factory=list)
    """Start and end of each phase so far (Build, Test, Promote)."""


class PendingTrigger(StatusModel):
    """A request to run that arrived while another run was in flight."""

    trigger: RunTrigger
    """What asked for the run."""
    requested_at: datetime | None = None
    """When the request arrived."""
    detail: ShortString = ""
    """E.g. the new base image digest or source revision."""


class ObservedInputs(StatusModel):
    """The inputs as last polled, to detect base image and source changes."""

    source_revision: ShortString | None = None
    """Source revision (commit, ConfigMap hash) last seen."""
    base_image_digests: dict[str, Digest] = Field(default_factory=dict)
    """Base image reference -> digest last seen."""
    polled_at: datetime | None = None
    """When the inputs were last polled."""
    spec_digest: ShortString | None = None
    """Hash of the spec fields a run depends on (image, tag, source, tests, promote):
    a change there starts a run; suspend, schedule or historyLimit changes do not."""


class ContainerImageRefreshStatus(StatusModel):
    """What the operator observed and did."""

    promoted_digest: Digest | None = None
    """Digest the tag currently points to (set by shakedown)."""
    candidate_digest: Digest | None = None
    """Digest of the last built candidate."""
    last_run: RunSummary | None = None
    """The last finished (or current) run."""
    recent_runs: Annotated[list[RunSummary], Field(max_length=10)] = Field(default_factory=list)
    """The last finished runs, newest first, without log tails."""
    history: list[HistoryEntry] = Field(default_factory=list)
    """Promoted digests, newest first, at most spec.historyLimit."""
    next_run_at: datetime | None = None
    """When the schedule fires next."""
    current_run: CurrentRun | None = None
    """The run in flight (operator bookkeeping)."""
    pending_triggers: list[PendingTrigger] = Field(default_factory=list)
    """Requests that arrived during a run; handled after it."""
    observed: ObservedInputs | None = None
    """Inputs as last polled."""
    handled_run_request: ShortString | None = None
    """Last value of the shakedown.dev/run-requested annotation that was acted on."""
    handled_rollback_to: ShortString | None = None
    """Last value of the shakedown.dev/rollback-to annotation that was acted on."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Reconciling, Stalled (kstatus) and kind-specific conditions."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status reflects."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def promoted_digest_short(self) -> str | None:
        """promotedDigest shortened for `kubectl get` (derived; written with the status)."""
        return short_digest(self.promoted_digest) or None
