"""The ContainerImageRefresh status: what users read, and the run in flight.

What users read is ``promotedDigest``, ``lastRun``, ``history``, ``nextRunAt`` and
``conditions``. ``currentRun`` is the operator's bookkeeping for the run in
flight, written after every step so that a restarted operator continues where it
stopped and never pushes, tests or promotes twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypedDict, Unpack

from pydantic import Field, computed_field

from shakedown.api.common import (
    Condition,
    Conditions,
    Digest,
    ShortString,
    StatusModel,
    short_digest,
)
from shakedown.api.imagerefresh.run import CurrentRun, RunSummary, RunTrigger


class HistoryEntry(StatusModel):
    """A digest that was promoted to the tag."""

    digest: Digest
    """The promoted digest."""
    promoted_at: datetime
    """When the tag was moved to it."""
    run_id: ShortString = ""
    """Run that promoted it; empty for a rollback made by request."""


class PendingTrigger(StatusModel):
    """A request to run that arrived while another run was in flight."""

    trigger: RunTrigger
    """What asked for the run."""
    requested_at: datetime | None = None
    """When the request arrived."""
    detail: ShortString = ""
    """E.g. the new base image digest or source revision."""

    def evolve(self, **changes: Unpack[PendingTriggerChanges]) -> PendingTrigger:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


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

    def evolve(self, **changes: Unpack[ObservedInputsChanges]) -> ObservedInputs:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


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

    def evolve(
        self, **changes: Unpack[ContainerImageRefreshStatusChanges]
    ) -> ContainerImageRefreshStatus:
        """A validated copy with ``changes``; mypy checks their names and types."""
        return self.validated_copy(changes)


class PendingTriggerChanges(TypedDict, total=False):
    """Fields of ``PendingTrigger`` to change, by attribute name (``PendingTrigger.evolve``)."""

    trigger: RunTrigger
    requested_at: datetime | None
    detail: str


class ObservedInputsChanges(TypedDict, total=False):
    """Fields of ``ObservedInputs`` to change, by attribute name (``ObservedInputs.evolve``)."""

    source_revision: str | None
    base_image_digests: dict[str, str]
    polled_at: datetime | None
    spec_digest: str | None


class ContainerImageRefreshStatusChanges(TypedDict, total=False):
    """Fields of ``ContainerImageRefreshStatus`` to change, by attribute name."""

    promoted_digest: str | None
    candidate_digest: str | None
    last_run: RunSummary | None
    recent_runs: list[RunSummary]
    history: list[HistoryEntry]
    next_run_at: datetime | None
    current_run: CurrentRun | None
    pending_triggers: list[PendingTrigger]
    observed: ObservedInputs | None
    handled_run_request: str | None
    handled_rollback_to: str | None
    conditions: list[Condition]
    observed_generation: int | None
