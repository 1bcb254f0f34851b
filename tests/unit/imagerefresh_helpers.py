"""Builders shared by the ContainerImageRefresh planner tests."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shakedown.api.imagerefresh import ContainerImageRefreshSpec, ContainerImageRefreshStatus
from shakedown.planning.imagerefresh import Plan, Resource, plan
from shakedown.planning.imagerefresh.observed import (
    BuildReport,
    JobObservation,
    JobState,
    Observation,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RES = Resource(namespace="ci", name="unit-tests")
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64
BASE_1 = "sha256:" + "1" * 64
BASE_2 = "sha256:" + "2" * 64


def make_spec(**overrides: Any) -> ContainerImageRefreshSpec:
    raw: dict[str, Any] = {
        "image": "registry.test:5000/ci/unit-tests",
        "tag": "latest",
        "source": {"configMap": {"name": "ctx"}},
        "tests": [
            {"name": "smoke", "command": ["/bin/true"], "timeout": "1m"},
            {"name": "full", "command": ["/bin/run"], "timeout": "2m"},
        ],
    }
    raw.update(overrides)
    return ContainerImageRefreshSpec.model_validate(raw)


def observe(at: float = 0.0, **fields: Any) -> Observation:
    """An observation ``at`` seconds after NOW, generation 1 unless given."""
    fields.setdefault("generation", 1)
    fields.setdefault("resource", RES)
    return Observation(now=NOW + timedelta(seconds=at), **fields)


def job(
    name: str,
    state: JobState = JobState.RUNNING,
    *,
    run_id: str = "1",
    step: str = "test",
    scenario: str = "",
    **fields: Any,
) -> JobObservation:
    return JobObservation(
        name=name, run_id=run_id, step=step, scenario=scenario, state=state, **fields
    )


def built(run_id: str = "1", digest: str = DIGEST_A, **report: Any) -> JobObservation:
    return job(
        f"unit-tests-{run_id}-build",
        JobState.SUCCEEDED,
        run_id=run_id,
        step="build",
        report=BuildReport(digest=digest, **report),
    )


def stored(status: ContainerImageRefreshStatus) -> ContainerImageRefreshStatus:
    """``status`` as the next pass reads it back: written as JSON, parsed again."""
    wire = json.loads(json.dumps(status.to_api()))
    return ContainerImageRefreshStatus.model_validate(wire)


def step(
    spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus, obs: Observation
) -> Plan:
    """One pass, with the status read from and written to its wire form as the operator does."""
    decided = plan(spec, stored(status), obs, obs.now)
    return replace(decided, status=stored(decided.status))


def action_types(p: Plan) -> list[str]:
    return [type(a).__name__ for a in p.actions]
