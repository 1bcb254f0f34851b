"""Something that starts and ends: a run, a phase of one, a test, a check, a revision.

Five status models record when they started and ended. They once declared the
two fields each, with five wordings of one meaning, and code that wanted how
long one took subtracted them itself. Here the meaning is said once
(``finishedAt`` unset while it runs) and so is the duration.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from shakedown.api.common import StatusModel


class Span(StatusModel):
    """A status model with a start and an end."""

    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it ended; unset while it runs."""

    @property
    def seconds(self) -> float | None:
        """How long it took; None until it has both a start and an end."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


class SpanChanges(TypedDict, total=False):
    """The two times, as a model's ``evolve(**changes)`` takes them."""

    started_at: datetime | None
    finished_at: datetime | None
