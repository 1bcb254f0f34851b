"""What the drivers of every kind do alike, written once.

A kind's driver (``adapters/imagerefresh.py``, ``adapters/infrarollout.py``)
subclasses ``ObjectDriver`` for its clock, reading its object, writing its
status subresource and posting Events, and supplies the rest of
``adapters.runner.Driver`` (admit, observe, plan, act) itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shakedown.adapters.workloads import Kube
from shakedown.planning.decision import EventNote

EventPoster = Callable[[Mapping[str, Any], EventNote], None]


class ObjectDriver:
    """The I/O about the driven object itself, the same for every kind."""

    kind: str

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        post_event: EventPoster | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self._post_event = post_event
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def read(self) -> dict[str, Any] | None:
        return self.kube.get(self.kind, self.namespace, self.name)

    def write_status(self, patch: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge-patch the status; the object as stored then (the runner keeps it)."""
        status = {"status": patch}
        stored = self.kube.merge_patch(
            self.kind, self.namespace, self.name, status, subresource="status"
        )
        return stored if isinstance(stored, dict) and stored.get("metadata") else None

    def post_event(self, body: Mapping[str, Any], note: EventNote) -> None:
        """Post an Event about the object (not at all when the driver was given no poster)."""
        if self._post_event is not None:
            self._post_event(body, note)
