"""A spec (or a stored status) the operator cannot act on: what status says, and when that is news.

A kind's driver judges the spec (``admit``) and hands back a ``Refused`` with the
problems, each naming its field. ``refusal`` turns that into the status change
users read: Stalled=True with reason ``InvalidSpec`` and the fields in the
message, Ready and Reconciling False with the same words (kstatus), and
``observedGeneration`` set, since this generation *was* looked at. It is pure
and idempotent: for a refusal already stored at this generation it asks for no
write and no Event, so an object refused once costs nothing however often it is
woken. The runner (``adapters.runner``) does the writing; the kind's planner
clears the condition once a valid spec is planned for.

A stored status that does not parse is said the same way (``unreadable``:
reason ``InvalidStatus``, the field named), so both stalls are written once and
said once by one rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shakedown.api.common import Condition
from shakedown.conditions import (
    READY,
    Health,
    find,
    same_conditions,
    stored_conditions,
    with_health,
)
from shakedown.planning.decision import EventNote
from shakedown.planning.validation import INVALID_SPEC, Problem, summarize

#: The reason of the Stalled condition of a stored status that does not parse.
INVALID_STATUS = "InvalidStatus"


@dataclass(frozen=True, kw_only=True)
class Refused:
    """What ``admit`` hands back for a spec that cannot be acted on now."""

    problems: tuple[Problem, ...]
    waits_on_namespace: bool = False
    """Whether news from the object's namespace may clear it without an edit (a
    MetricTemplate that appears, a target that gains the container): the runner
    then keeps listening to that namespace instead of sleeping until an edit."""


@dataclass(frozen=True)
class StatusChange:
    """What to write and say for a refusal; nothing when it is stored already."""

    patch: dict[str, Any] = field(default_factory=dict)
    """A merge patch of the status (empty: nothing to write)."""
    event: EventNote | None = None
    """A Warning Event, when the Ready condition users read changes."""


def refusal(
    status: Mapping[str, Any],
    refused: Refused,
    *,
    generation: int | None,
    now: datetime,
) -> StatusChange:
    """The status change that reports ``refused`` on an object with ``status`` as stored."""
    message = summarize(refused.problems) or INVALID_SPEC
    return stalled(status, INVALID_SPEC, message, generation=generation, now=now, observed=True)


def unreadable(
    status: Mapping[str, Any],
    problem: str,
    *,
    generation: int | None,
    now: datetime,
) -> StatusChange:
    """The status change that reports a stored status that does not parse (``problem`` names
    the field). The generation is not marked observed: nothing of it was planned for."""
    message = f"status does not parse, not acting on it: {problem}"
    return stalled(status, INVALID_STATUS, message, generation=generation, now=now, observed=False)


def stalled(
    status: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
    observed: bool,
) -> StatusChange:
    """Stalled=True for ``reason`` (Ready and Reconciling False with the same words), and
    ``observedGeneration`` when ``observed``; nothing when that is what is stored."""
    before = stored_conditions(status.get("conditions"))
    after = with_health(
        before,
        Health.STALLED,
        reason=reason,
        message=message,
        generation=generation,
        at=now,
    )
    patch: dict[str, Any] = {}
    if not same_conditions(before, after):
        patch["conditions"] = [c.to_api() for c in after]
    if observed and generation is not None and status.get("observedGeneration") != generation:
        patch["observedGeneration"] = generation
    event = None
    if _ready_changed(before, after):
        event = EventNote("Warning", reason, message)
    return StatusChange(patch, event)


def _ready_changed(before: Sequence[Condition], after: Sequence[Condition]) -> bool:
    """Whether the Ready condition users read differs (status, reason or message)."""
    old, new = find(before, READY), find(after, READY)
    if old is None or new is None:
        return old is not new
    return (old.status, old.reason, old.message) != (new.status, new.reason, new.message)
