"""One run of a ContainerImageRefresh: the run in flight and the summary users read.

``CurrentRun`` is the operator's bookkeeping, written after every step so that a
restarted operator continues where it stopped and never pushes, tests or promotes
twice; ``RunSummary`` is what ``lastRun`` and ``recentRuns`` show.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypedDict, Unpack

from pydantic import Field, StrictBool

from shakedown.api.common import (
    FINISHED,
    UNSUCCESSFUL,
    Digest,
    ImageReference,
    Message,
    Phase,
    ShortString,
    StatusModel,
)
from shakedown.api.span import Span, SpanChanges


class RunTrigger(StrEnum):
    """Why a run started."""

    SCHEDULE = "Schedule"
    BASE_IMAGE = "BaseImage"
    SOURCE = "Source"
    MANUAL = "Manual"
    SPEC = "Spec"
    """The object was created or its spec changed."""


class RunPhase(Phase):
    PENDING = "Pending"
    BUILDING = "Building"
    TESTING = "Testing"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded", FINISHED
    VALIDATED = "Validated", FINISHED
    """All tests passed in a validate-only run (promote: false); nothing was promoted."""
    FAILED = "Failed", FINISHED, UNSUCCESSFUL
    CANCELLED = "Cancelled", FINISHED, UNSUCCESSFUL


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

    def evolve(self, **changes: Unpack[FailedTestChanges]) -> FailedTest:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class PhaseTiming(Span):
    """When one phase of a run (Build, Test, Promote) started and ended."""

    name: ShortString
    """Build, Test or Promote."""

    def evolve(self, **changes: Unpack[PhaseTimingChanges]) -> PhaseTiming:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class RunSummary(Span):
    """The outcome of one run, as users read it."""

    id: ShortString
    """Run id (also a label on the run's Jobs)."""
    trigger: RunTrigger
    """What started the run."""
    phase: RunPhase
    """Where the run is or how it ended."""
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

    def evolve(self, **changes: Unpack[RunSummaryChanges]) -> RunSummary:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class TestRunState(Span):
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

    def evolve(self, **changes: Unpack[TestRunStateChanges]) -> TestRunState:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


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

    def evolve(self, **changes: Unpack[CurrentRunChanges]) -> CurrentRun:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class FailedTestChanges(TypedDict, total=False):
    """Fields of ``FailedTest`` to change, by attribute name (``FailedTest.evolve``)."""

    name: str
    reason: str
    log_tail: str


class PhaseTimingChanges(SpanChanges, total=False):
    """Fields of ``PhaseTiming`` to change, by attribute name (``PhaseTiming.evolve``)."""

    name: str


class RunSummaryChanges(SpanChanges, total=False):
    """Fields of ``RunSummary`` to change, by attribute name (``RunSummary.evolve``)."""

    id: str
    trigger: RunTrigger
    phase: RunPhase
    candidate_digest: str | None
    source_revision: str | None
    failed_tests: list[FailedTest]
    message: str
    phases: list[PhaseTiming]


class TestRunStateChanges(SpanChanges, total=False):
    """Fields of ``TestRunState`` to change, by attribute name (``TestRunState.evolve``)."""

    name: str
    job: str | None
    phase: TestPhase
    reason: str
    log_tail: str


class CurrentRunChanges(TypedDict, total=False):
    """Fields of ``CurrentRun`` to change, by attribute name (``CurrentRun.evolve``)."""

    id: str
    trigger: RunTrigger
    phase: RunPhase
    started_at: datetime | None
    source_revision: str | None
    base_image_digests: dict[str, str]
    build_job: str | None
    candidate_digest: str | None
    candidate_reference: str | None
    tests: list[TestRunState]
    promoted: bool
    notified: bool
    message: str
    phases: list[PhaseTiming]
