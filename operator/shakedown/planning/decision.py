"""What every planner returns: one ``Decision`` shape for both kinds.

Both planners are ``plan(spec, status, observed, now) -> Decision``, and the
one runner in ``adapters.runner`` drives either of them the same way: write
``status`` first, post ``events``, then carry out ``actions`` (each idempotent),
and look again at ``wake_at`` at the latest, at once when ``again`` is set.
The kinds differ only in their status and action types, which parameterise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

StatusT = TypeVar("StatusT", covariant=True)
ActionT = TypeVar("ActionT", covariant=True)


@dataclass(frozen=True)
class EventNote:
    """A Kubernetes Event to post on the object planned for, after its status is stored."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Decision(Generic[StatusT, ActionT]):
    """One planning round's outcome, in the order the runner uses it."""

    status: StatusT
    """Stored first, so a restart at any later point knows what was under way."""
    events: tuple[EventNote, ...] = ()
    """Posted once the status is stored, before the actions."""
    actions: tuple[ActionT, ...] = ()
    """Carried out in order after the status is stored; repeating one changes nothing."""
    wake_at: datetime | None = None
    """Plan again at this time even when no watch event arrives (None: the runner's tick,
    or never when ``idle``)."""
    again: bool = False
    """Plan again at once: this round moved on, and the next may have work."""
    finished: bool = False
    """Deletion only: nothing is left to do, the finalizer may go."""
    idle: bool = False
    """Nothing in flight: no safety-net tick, only ``wake_at`` or the object's own news
    (its watch events) wake it again. Idle objects must cost nothing."""
