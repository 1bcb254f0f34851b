"""What one kind supplies to the one runner (``adapters.runner``): its ``Driver``.

The runner's loop and step are the same for both kinds; how to read, admit,
observe, plan and act differs, and is what a kind's driver
(``adapters.imagerefresh``, ``adapters.infrarollout``) implements. Split from
the runner so the loop reads apart from the contract it drives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shakedown.planning.decision import Decision, EventNote
from shakedown.planning.refusal import Refused

#: A Kubernetes object as JSON.
Obj = dict[str, Any]

SpecT = TypeVar("SpecT")
StatusT = TypeVar("StatusT", bound="Status")
ObservedT = TypeVar("ObservedT")
ActionT = TypeVar("ActionT")


class Status(Protocol):
    """A kind's status model: written as the JSON its CRD stores."""

    def to_api(self) -> dict[str, Any]: ...


class Stopping(Protocol):
    """A stop flag (``runnerset.Stop``): true once the loop should end; calls back when set."""

    def __bool__(self) -> bool: ...

    def on_set(self, callback: Callable[[], None]) -> None: ...


class Driver(Protocol[SpecT, StatusT, ObservedT, ActionT]):
    """What one kind supplies; every blocking method runs in a worker thread."""

    kind: str
    namespace: str
    name: str
    log: logging.Logger
    tick: float
    """Longest wait without news (a safety net: watch events are the trigger)."""
    retry: float
    """Wait after a failed step."""
    max_rounds: int | None
    """Steps in a row that may ask to plan ``again`` before waiting (None: no bound)."""
    follows_namespace: bool
    """Whether news from anything in the object's namespace wakes it."""

    def now(self) -> datetime:
        """The clock, at the precision the kind's status keeps."""
        ...

    def read(self) -> Obj | None:
        """The object as stored; None when it is gone."""
        ...

    def parse_status(self, raw: Mapping[str, Any]) -> StatusT:
        """The stored status; raises ValueError (naming the field) when it does not parse."""
        ...

    def admit(self, body: Obj, status: StatusT, deleting: bool) -> SpecT | Refused | None:
        """The spec to plan for; ``Refused`` (the fields named) when it cannot be acted on,
        which the runner reports; None when there is nothing to plan now."""
        ...

    def observe(
        self, body: Obj, spec: SpecT, status: StatusT, deleting: bool, now: datetime
    ) -> ObservedT: ...

    def plan(
        self, spec: SpecT, status: StatusT, observed: ObservedT, now: datetime
    ) -> Decision[StatusT, ActionT]: ...

    def write_status(self, patch: Mapping[str, Any]) -> Obj | None:
        """Merge-patch the status subresource; the object as stored then, when known."""
        ...

    def recorded(
        self,
        spec: SpecT,
        before: StatusT,
        decision: Decision[StatusT, ActionT],
        now: datetime,
        deleting: bool,
    ) -> None:
        """Bookkeeping once the status is stored (metrics, watches); runs in the event loop."""
        ...

    async def act(
        self,
        body: Obj,
        spec: SpecT,
        observed: ObservedT,
        decision: Decision[StatusT, ActionT],
        complain: Callable[[str], None],
    ) -> None:
        """Carry out the decision's actions in order; ``complain`` reports a non-fatal failure."""
        ...

    def post_event(self, body: Obj, note: EventNote) -> None: ...

    def close(self) -> None:
        """The loop ended: stop whatever the driver started beside it."""
        ...
