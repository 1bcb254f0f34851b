"""Handlers report a verdict as conditions on the status patch, and an Event on change."""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf
import pytest

from shakedown.conditions import Health
from shakedown.handlers.reporting import Verdict, conditions_of, report
from shakedown.planning.validation import Problem


def body(status: dict[str, Any] | None = None) -> kopf.Body:
    # kopf's RawMeta TypedDict leaves out metadata.generation, which the reports read.
    return kopf.Body(
        cast(
            kopf.RawBody,
            {
                "apiVersion": "shakedown.dev/v1alpha1",
                "kind": "ContainerImageRefresh",
                "metadata": {"name": "unit-tests", "namespace": "ci", "uid": "u1", "generation": 3},
                "status": status or {},
            },
        )
    )


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(kopf, "event", lambda obj, **kw: posted.append(kw))
    return posted


def test_invalid_spec_is_stalled_with_the_field_and_a_warning(
    events: list[dict[str, Any]],
) -> None:
    patch = kopf.Patch()
    problems = [Problem(field="spec.schedule", message="never fires")]
    report(
        body=body(),
        patch=patch,
        verdict=Verdict.invalid(problems),
        generation=3,
        logger=logging.getLogger("test"),
    )
    conditions = {c["type"]: c for c in patch["status"]["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "InvalidSpec"
    assert conditions["Stalled"]["message"] == "spec.schedule: never fires"
    assert conditions["Ready"]["status"] == "False"
    assert patch["status"]["observedGeneration"] == 3
    assert events == [
        {"type": "Warning", "reason": "InvalidSpec", "message": "spec.schedule: never fires"}
    ]


def test_no_event_when_nothing_users_see_changed(events: list[dict[str, Any]]) -> None:
    verdict = Verdict(health=Health.READY, reason="Promoted", message="latest is sha256:1")
    first = kopf.Patch()
    report(body=body(), patch=first, verdict=verdict, generation=3, logger=logging.getLogger())
    assert len(events) == 1 and events[0]["type"] == "Normal"
    # Resumed with the status it wrote: same verdict, no second Event, same transition time.
    second = kopf.Patch()
    stored = body({"conditions": first["status"]["conditions"]})
    report(body=stored, patch=second, verdict=verdict, generation=3, logger=logging.getLogger())
    assert len(events) == 1
    assert second["status"]["conditions"] == first["status"]["conditions"]


def test_unparseable_conditions_are_skipped() -> None:
    assert conditions_of({"conditions": [{"type": "Ready"}, "junk"]}) == []
    assert conditions_of(None) == []


def test_health_series_per_object_and_forgotten_on_delete() -> None:
    from shakedown import metrics

    labels = {"kind": "InfraRollout", "namespace": "infra", "name": "tasks-metrics-test"}

    def value(health: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(
            "shakedown_object_health", {**labels, "health": health}
        )

    metrics.observe(**labels, health="Reconciling", reason="Shifting")
    assert (value("Reconciling"), value("Ready"), value("Stalled")) == (1.0, 0.0, 0.0)
    metrics.observe(**labels, health="Ready", reason="Succeeded")
    assert (value("Reconciling"), value("Ready")) == (0.0, 1.0)
    metrics.forget(**labels)
    assert value("Ready") is None
