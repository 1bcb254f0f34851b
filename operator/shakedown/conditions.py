"""Conditions the way Kubernetes tools read them.

Pure helpers over ``shakedown.api.common.Condition`` implementing the Kubernetes
API conventions (one entry per type; ``lastTransitionTime`` moves only when
``status`` changes) and the kstatus pattern: ``Ready`` (normal-true) plus the
abnormal-true ``Reconciling`` and ``Stalled``, so Argo CD, Flux and ``kubectl
wait --for=condition=Ready`` understand shakedown objects without custom scripts.

Nothing here does I/O; the handlers write the result to the status subresource.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shakedown.api.common import Condition, ConditionStatus

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
KSTATUS_TYPES = (READY, RECONCILING, STALLED)

#: Reason of Reconciling=True (and Ready=False) while an object waits for a
#: person or a set time rather than for work, such as a canary's pause step:
#: dashboards tell "waiting for you" from "working" by this reason alone.
PAUSED = "Paused"

#: Messages are truncated to this length (the API allows 32768).
MAX_MESSAGE = 4096


class Health(StrEnum):
    """The three kstatus states an object can be in."""

    READY = "Ready"
    """Done: the desired state is reached."""
    RECONCILING = "Reconciling"
    """Work in progress toward the desired state."""
    STALLED = "Stalled"
    """No progress without a person: invalid spec, or an error that will not clear."""


def now() -> datetime:
    """The current time, UTC, whole seconds (the precision of metav1.Time)."""
    return datetime.now(UTC).replace(microsecond=0)


def stored_conditions(raw: Any) -> list[Condition]:
    """Conditions as a status holds them, skipping any entry (or a whole list) that does
    not parse: a hand-edited status must not stop the object from being judged again."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(Condition.model_validate(item))
        except ValueError:
            continue
    return out


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of a type, if present."""
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE


def set_condition(conditions: Sequence[Condition], new: Condition) -> list[Condition]:
    """``conditions`` with ``new`` in place of the entry of its type (or appended).

    When the status does not change, the old ``lastTransitionTime`` is kept: the
    time says when the condition last *flipped*, not when it was last written.
    """
    result: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            result.append(old)
            continue
        if old.status == new.status:
            new = new.model_copy(update={"last_transition_time": old.last_transition_time})
        result.append(new)
        replaced = True
    if not replaced:
        result.append(new)
    return result


def condition(
    type_: str,
    status: bool | ConditionStatus,
    *,
    reason: str,
    message: str = "",
    generation: int | None = None,
    at: datetime | None = None,
) -> Condition:
    """A condition value; ``status`` may be a bool."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=_clip(message),
        observed_generation=generation,
        last_transition_time=at or now(),
    )


def with_health(
    conditions: Sequence[Condition],
    health: Health,
    *,
    reason: str,
    message: str,
    generation: int | None,
    at: datetime | None = None,
) -> list[Condition]:
    """Set Ready / Reconciling / Stalled consistently for one kstatus state.

    Exactly one of the three is True; the other two are False and carry the
    same reason and message, so whichever a tool reads explains the state.
    """
    at = at or now()
    for type_ in KSTATUS_TYPES:
        conditions = set_condition(
            conditions,
            condition(
                type_,
                type_ == health.value,
                reason=reason,
                message=message,
                generation=generation,
                at=at,
            ),
        )
    return _kstatus_first(conditions)


def health_of(conditions: Iterable[Condition]) -> Health | None:
    """Which kstatus state the conditions describe (None when not set yet)."""
    conditions = list(conditions)
    for health in (Health.STALLED, Health.RECONCILING, Health.READY):
        if is_true(conditions, health.value):
            return health
    return None


def same_conditions(left: Sequence[Condition], right: Sequence[Condition]) -> bool:
    """True when writing ``right`` over ``left`` would change nothing users see."""
    return [c.to_api() for c in left] == [c.to_api() for c in right]


def _kstatus_first(conditions: Sequence[Condition]) -> list[Condition]:
    order = {t: i for i, t in enumerate(KSTATUS_TYPES)}
    return sorted(conditions, key=lambda c: order.get(c.type, len(order)))


def _clip(message: str) -> str:
    message = message.strip()
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
