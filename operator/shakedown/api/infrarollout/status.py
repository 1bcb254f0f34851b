"""The InfraRollout status: what users read, and what a restarted operator needs to go on.

Besides ``phase``, ``revision``, ``currentStep``, ``history`` and ``conditions``,
the status records the change hash the rollout is for, where the snapshot of
production is kept, which checks passed and whether the shift began, so that a
restarted operator never repeats a shift.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypedDict, Unpack

from pydantic import Field, StrictBool

from shakedown.api.common import (
    FINISHED,
    UNSUCCESSFUL,
    Condition,
    Conditions,
    ImageReference,
    Message,
    ObjectName,
    Phase,
    ShortString,
    StatusModel,
)
from shakedown.api.infrarollout.change import TargetKind
from shakedown.api.span import Span, SpanChanges


class RolloutPhase(Phase):
    PENDING = "Pending"
    SNAPSHOTTING = "Snapshotting"
    SHADOWING = "Shadowing"
    SMOKE_TESTING = "SmokeTesting"
    SHIFTING = "Shifting"
    BAKING = "Baking"
    SUCCEEDED = "Succeeded", FINISHED
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack", FINISHED, UNSUCCESSFUL
    FAILED = "Failed", FINISHED, UNSUCCESSFUL
    ABORTED = "Aborted", FINISHED, UNSUCCESSFUL
    VALIDATED = "Validated", FINISHED
    """Proven in the shadow with promote: false; production untouched."""


class RolloutResult(StrEnum):
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    ABORTED = "Aborted"
    VALIDATED = "Validated"


class RolloutHistoryEntry(Span):
    """A finished revision of the rollout."""

    revision: Annotated[int, Field(ge=0)]
    """Revision number of the rollout."""
    result: RolloutResult
    """How it ended: Succeeded, Validated (prove only), RolledBack, Failed or Aborted."""
    reason: Message = ""
    """Why it ended that way."""
    change_hash: ShortString = ""
    """Hash of the spec (and resolved images) it rolled out."""


class SnapshotTarget(StatusModel):
    """One target as it was before the shift."""

    kind: TargetKind
    """Kind of the target."""
    name: ObjectName
    """Name of the target."""
    resource_version: ShortString = ""
    """metadata.resourceVersion of the target when snapshotted."""
    existed: StrictBool = True
    """False when the target did not exist (rollback deletes it)."""


class Snapshot(StatusModel):
    """Where production's state before the shift is kept."""

    config_map: ObjectName | None = None
    """ConfigMap holding the snapshot (one key per target)."""
    secret: ObjectName | None = None
    """Secret holding the snapshot (one key per object; a Secret because targets may be Secrets)."""
    taken_at: datetime | None = None
    """When the snapshot was taken."""
    targets: list[SnapshotTarget] = Field(default_factory=list)
    """The targets in the snapshot."""


class CheckType(StrEnum):
    READY = "Ready"
    HTTP = "HTTP"
    JOB = "Job"
    METRIC = "Metric"


class CheckPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"


class CheckStatus(Span):
    """The state of one check of the current revision."""

    name: ShortString
    """Name of the check (Ready for the readiness check)."""
    type: CheckType
    """Ready, HTTP, Job or Metric."""
    phase: CheckPhase = CheckPhase.PENDING
    """Pending, Running, Passed or Failed."""
    message: Message = ""
    """The check's verdict in words (the last measurement for a metric)."""
    job: ShortString | None = None
    """Name of the Job of a Job check."""
    successes: Annotated[int, Field(ge=0)] = 0
    """Passed measurements of a metric check."""
    failures: Annotated[int, Field(ge=0)] = 0
    """Failed measurements of a metric check."""

    def evolve(self, **changes: Unpack[CheckStatusChanges]) -> CheckStatus:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class ResolvedImage(StatusModel):
    """A container's image after spec.imageFrom was resolved."""

    container: ShortString
    """Container name."""
    image: ImageReference
    """Image the container is set to."""


class RevisionState(StatusModel):
    """What the revision in flight records as it runs; replaced whole when a revision starts.

    Every field here belongs to one revision, so starting the next one is
    ``InfraRolloutStatus.start_revision``: a fresh ``RevisionState`` in place of
    the old, with no list of fields to reset by hand (a field added here starts
    clean with the rest). On the wire these fields stay at the top of the
    status (``status.shadowNamespace``), where kubectl, the CLI and dashboards
    have always read them; that is why the status extends this model instead
    of nesting it.
    """

    change_hash: ShortString | None = None
    """Hash of the spec (and resolved images) this revision rolls out."""
    resolved_images: list[ResolvedImage] = Field(default_factory=list)
    """Images after imageFrom was resolved."""
    started_at: datetime | None = None
    """When this revision started."""
    shadow_namespace: ShortString | None = None
    """Namespace holding the shadow copies while they exist."""
    shadow_expires_at: datetime | None = None
    """When the shadow namespace is deleted at the latest."""
    current_step: Annotated[int, Field(ge=0)] | None = None
    """Index of the canary step in progress."""
    step_started_at: datetime | None = None
    """When the current canary step began."""
    rollback_reason: Message | None = None
    """Why production was rolled back."""
    snapshot: Snapshot | None = None
    """Where production's state before the shift is kept."""
    checks: list[CheckStatus] = Field(default_factory=list)
    """Smoke and production checks of this revision, with results."""
    shift_started: StrictBool = False
    """Production was touched; failures from now on roll back."""
    shift_started_at: datetime | None = None
    """When production was first touched (restarts before it are not this change's)."""
    failure_observed_at: datetime | None = None
    """When the failure that started the rollback became observable."""
    # -- issue 9
    failure_reason: ShortString | None = None
    """CamelCase cause of a Failed revision (CrashLoop, ImagePull, ReadyTimeout, ...)."""
    waiting_for: Message | None = None
    """What the rollout waits for, in words (a pause, pods Ready, a check)."""
    undo_revision: Annotated[int, Field(ge=1)] | None = None
    """While undoing: the revision whose snapshot (production before it) is restored."""


class InfraRolloutStatus(RevisionState):
    """What the operator observed and did."""

    phase: RolloutPhase = RolloutPhase.PENDING
    """Where the rollout is."""
    revision: Annotated[int, Field(ge=0)] = 0
    """Counts rollouts of this object (one per distinct change)."""
    phase_started_at: datetime | None = None
    """When the current phase began."""
    history: list[RolloutHistoryEntry] = Field(default_factory=list)
    """Past rollouts, newest first."""
    handled_promote: ShortString | None = None
    """Last value of the shakedown.dev/promote annotation acted on."""
    handled_abort: ShortString | None = None
    """Last value of the shakedown.dev/abort annotation acted on."""
    handled_retry: ShortString | None = None
    """Last value of the shakedown.dev/retry annotation acted on."""
    handled_undo: ShortString | None = None
    """Last value of the shakedown.dev/undo annotation acted on."""
    message: Message = ""
    """One line for people."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Reconciling, Stalled (kstatus) and kind-specific conditions."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status reflects."""

    def evolve(self, **changes: Unpack[InfraRolloutStatusChanges]) -> InfraRolloutStatus:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)

    def start_revision(
        self, state: RevisionState, *, now: datetime, message: str
    ) -> InfraRolloutStatus:
        """The next revision, Pending, with ``state`` replacing the last revision's whole."""
        kept = {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name not in RevisionState.model_fields
        }
        fresh = {name: getattr(state, name) for name in RevisionState.model_fields}
        return self.model_validate(
            {
                **kept,
                **fresh,
                "revision": self.revision + 1,
                "phase": RolloutPhase.PENDING,
                "phase_started_at": now,
                "message": message,
            }
        )


class CheckStatusChanges(SpanChanges, total=False):
    """Fields of ``CheckStatus`` to change, by attribute name."""

    name: str
    type: CheckType
    phase: CheckPhase
    message: str
    job: str | None
    successes: int
    failures: int


class EntryChanges(TypedDict, total=False):
    """What a phase transition may change besides the phase, its start and the message."""

    change_hash: str | None
    resolved_images: list[ResolvedImage]
    started_at: datetime | None
    shadow_namespace: str | None
    shadow_expires_at: datetime | None
    current_step: int | None
    step_started_at: datetime | None
    rollback_reason: str | None
    snapshot: Snapshot | None
    checks: list[CheckStatus]
    shift_started: bool
    shift_started_at: datetime | None
    failure_observed_at: datetime | None
    failure_reason: str | None
    waiting_for: str | None
    undo_revision: int | None
    revision: int
    history: list[RolloutHistoryEntry]
    handled_promote: str | None
    handled_abort: str | None
    handled_retry: str | None
    handled_undo: str | None
    conditions: list[Condition]
    observed_generation: int | None


class InfraRolloutStatusChanges(EntryChanges, total=False):
    """Fields of ``InfraRolloutStatus`` to change, by attribute name (``evolve``)."""

    phase: RolloutPhase
    phase_started_at: datetime | None
    message: str
