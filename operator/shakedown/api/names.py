"""The names of a kind on the API server, declared once per kind as its api module's ``NAMES``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class KindNames:
    """How a kind is named on the API server, written once per kind.

    The CRD, kopf's handler registrations, the metric labels and the objects'
    own ``kind`` all read these, so a kind cannot be spelt two ways.
    """

    kind: str
    plural: str
    short_name: str

    @property
    def singular(self) -> str:
        """The lowercase kind, as the API server defaults it."""
        return self.kind.lower()

    def answers_to(self, word: str) -> bool:
        """Whether ``word`` names this kind the way kubectl accepts it."""
        return word in (self.kind, self.singular, self.plural, self.short_name)
