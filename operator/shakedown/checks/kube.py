"""What a check may ask of the API server, as a Protocol.

Checks sit below the adapters: the operator's JSON client
(``shakedown.adapters.workloads.Kube``) satisfies this Protocol, and a test
passes any fake that does, so ``checks`` never imports the adapters that run
them and the two packages cannot form an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["JobNews", "Kube", "Subscription"]


class Kube(Protocol):
    """The three JSON calls checks make; objects are plain dicts with their kind set."""

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    def list(
        self, kind: str, namespace: str | None, *, labels: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of a kind, filtered by a label selector when given."""
        ...

    def create(self, kind: str, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create; raises when it exists already."""
        ...


class Subscription(Protocol):
    """A check's interest in one Job; closed when the check ends (also when cancelled)."""

    @property
    def watching(self) -> bool:
        """Whether a watch is expected to bring the news; when not, the check polls (slowly)."""
        ...

    def close(self) -> None:
        """No more wake-ups; never blocks (the event loop calls it)."""
        ...


class JobNews(Protocol):
    """Wakes a waiting check when its Job may have finished."""

    def subscribe(self, namespace: str, name: str, wake: Callable[[], None]) -> Subscription:
        """Call ``wake`` (from any thread) when Job ``namespace/name`` may have finished."""
        ...
