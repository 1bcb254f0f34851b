"""The fields of an InfraRollout status as keyword arguments a type checker can see.

The planner changes the status one step at a time (``Step.update(waiting_for=...)``).
With ``**changes: Unpack[StatusChanges]`` mypy checks each keyword's name and
type at the call site, and ``ApiModel.evolve`` validates the values at run time,
so neither a misspelt field nor ``phase='NotAPhase'`` gets into a status.
A unit test keeps the keys equal to ``InfraRolloutStatus``'s fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from shakedown.api.common import Condition
from shakedown.api.infrarollout.status import (
    CheckStatus,
    ResolvedImage,
    RolloutHistoryEntry,
    RolloutPhase,
    Snapshot,
)


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


class StatusChanges(EntryChanges, total=False):
    """Any subset of ``InfraRolloutStatus``'s fields, by attribute name."""

    phase: RolloutPhase
    phase_started_at: datetime | None
    message: str
