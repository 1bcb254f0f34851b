"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest
from kopf._core.reactor import observation


@pytest.fixture
def kopf_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put back kopf's namespace-event processor after a test: ``configure`` (through
    ``handlers.listed_namespaces``) installs a wrapper on that function of kopf's, and a
    wrapper left behind would change what every later test sees of kopf."""
    monkeypatch.setattr(
        observation,
        "process_discovered_namespace_event",
        observation.process_discovered_namespace_event,
    )
