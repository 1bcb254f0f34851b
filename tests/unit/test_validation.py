"""Semantic checks name the field the user must fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shakedown.api.infrarollout import TargetKind
from shakedown.api.metrictemplate import MetricTemplateSpec
from shakedown.planning.validation import (
    Problem,
    check_schedule,
    field_path,
    summarize,
    validate_image_refresh,
    validate_infra_rollout,
)
from tests.unit.test_models import cir_spec, iro_spec

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def fields(problems: tuple[Problem, ...]) -> list[str]:
    return [p.field for p in problems]


# --------------------------------------------------------------------------- ContainerImageRefresh
def test_valid_cir_has_no_problems() -> None:
    spec, problems = validate_image_refresh(cir_spec(), now=NOW)
    assert spec is not None
    assert problems == ()


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"schedule": "0 0 30 2 *"}, "spec.schedule", "never fires"),
        ({"schedule": "0 0 31 4 *"}, "spec.schedule", "never fires"),
        ({"schedule": "61 * * * *"}, "spec.schedule", "not a cron expression"),
        ({"timeZone": "Mars/Olympus_Mons"}, "spec.timeZone", "unknown time zone"),
        ({"buildTimeout": "0s"}, "spec.buildTimeout", "longer than 0s"),
        (
            {"tests": [{"name": "a", "timeout": "0s"}]},
            "spec.tests[0].timeout",
            "longer than 0s",
        ),
        (
            {"tests": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "X"}]}]},
            "spec.tests[0].env[1].name",
            "duplicate",
        ),
        (
            {"source": {"configMap": {"name": "c"}, "buildArgs": {"BAD-NAME": "1"}}},
            "spec.source.buildArgs.BAD-NAME",
            "letters",
        ),
    ],
)
def test_cir_semantic_problems(overrides: dict[str, Any], field: str, needle: str) -> None:
    spec, problems = validate_image_refresh(cir_spec(**overrides), now=NOW)
    assert spec is not None, "the schema accepts it; only the semantic check refuses it"
    assert fields(problems) == [field]
    assert needle in problems[0].message


def test_leap_day_schedule_is_fine() -> None:
    assert check_schedule("0 0 29 2 *", "Europe/Berlin", now=NOW) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tests": [{"name": "a", "timeout": "30 minutes"}]}, "spec.tests[0].timeout"),
        ({"historyLimit": 0}, "spec.historyLimit"),
        ({"source": {}}, "spec.source"),
        ({"triggers": {"pollInterval": "5"}}, "spec.triggers.pollInterval"),
        ({"tests": [{"name": "a"}, {"name": "a"}]}, "spec.tests[1].name"),
    ],
)
def test_cir_parse_problems_name_the_field(overrides: dict[str, Any], field: str) -> None:
    spec, problems = validate_image_refresh(cir_spec(**overrides), now=NOW)
    assert spec is None
    assert field in fields(problems), problems


def test_missing_required_field_is_named() -> None:
    raw = cir_spec()
    del raw["image"]
    _, problems = validate_image_refresh(raw)
    assert fields(problems) == ["spec.image"]
    assert "required" in problems[0].message.lower()


# --------------------------------------------------------------------------- InfraRollout
def test_valid_iro_has_no_problems() -> None:
    raw = iro_spec()
    raw["targets"].append({"kind": "Service", "name": "tasks"})
    spec, problems = validate_infra_rollout(raw)
    assert spec is not None
    assert problems == ()


def canary(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Canary", "canary": {"steps": list(steps)}}


WITH_SERVICE = [
    {"kind": "Deployment", "name": "tasks"},
    {"kind": "ConfigMap", "name": "tasks-config"},
    {"kind": "Service", "name": "tasks"},
]


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        (
            {"targets": [*WITH_SERVICE, {"kind": "DaemonSet", "name": "agent"}]},
            "spec.targets[3].kind",
            "not supported with strategy Canary",
        ),
        (
            {
                "targets": [*WITH_SERVICE, {"kind": "StatefulSet", "name": "db"}],
                "strategy": {"type": "BlueGreen"},
            },
            "spec.targets[3].kind",
            "not supported with strategy BlueGreen",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "smokeTests": {},
                "change": {
                    "patches": [
                        {
                            "target": {"kind": "ConfigMap", "name": "tasks-config"},
                            "type": "json",
                            "patch": {"data": {}},
                        }
                    ]
                },
            },
            "spec.change.patches[0].patch",
            "list of operations",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "smokeTests": {},
                "change": {
                    "patches": [
                        {
                            "target": {"kind": "ConfigMap", "name": "tasks-config"},
                            "type": "strategic",
                            "patch": [{"op": "add", "path": "/data/x", "value": "1"}],
                        }
                    ]
                },
            },
            "spec.change.patches[0].patch",
            "is an object",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "smokeTests": {},
                "change": {
                    "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]
                },
            },
            "spec.change.manifests[0]",
            "metadata.name",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "smokeTests": {},
                "change": {
                    "manifests": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}}
                    ]
                },
            },
            "spec.change.manifests[0].kind",
            "not in spec.targets",
        ),
        (
            {
                "targets": [
                    {"kind": "Deployment", "name": "tasks"},
                    {"kind": "ConfigMap", "name": "tasks-config"},
                ],
                "smokeTests": {"http": [{"name": "h", "service": "tasks", "port": 80}]},
            },
            "spec.smokeTests.http[0].service",
            "not in spec.targets",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "smokeTests": {"jobs": [{"name": "j", "container": "sidecar"}]},
            },
            "spec.smokeTests.jobs[0].container",
            "gets no new image",
        ),
        (
            {
                "targets": [*WITH_SERVICE, {"kind": "Service", "name": "tasks-preview"}],
                "strategy": {"type": "BlueGreen"},
            },
            "spec.strategy.blueGreen.service",
            "2 Services",
        ),
        (
            {
                "targets": WITH_SERVICE,
                "strategy": {"type": "BlueGreen", "blueGreen": {"service": "web"}},
            },
            "spec.strategy.blueGreen.service",
            "not in spec.targets",
        ),
        ({"targets": WITH_SERVICE, "timeout": "0s"}, "spec.timeout", "longer than 0s"),
        (
            {"targets": WITH_SERVICE, "shadow": {"ttl": "2m"}, "smokeTests": {"readyFor": "5m"}},
            "spec.shadow.ttl",
            "shorter than spec.smokeTests.readyFor",
        ),
    ],
)
def test_iro_semantic_problems(overrides: dict[str, Any], field: str, needle: str) -> None:
    spec, problems = validate_infra_rollout(iro_spec(**overrides))
    assert spec is not None, "the schema accepts it; only the semantic check refuses it"
    assert fields(problems) == [field], problems
    assert needle in problems[0].message


def test_image_for_a_container_no_target_has() -> None:
    raw = iro_spec(targets=WITH_SERVICE)
    containers = {(TargetKind.DEPLOYMENT, "tasks"): frozenset({"worker"})}
    _, problems = validate_infra_rollout(raw, containers=containers)
    assert fields(problems) == ["spec.change.images[0].container"]
    assert "'tasks'" in problems[0].message and "worker" in problems[0].message


def test_image_from_container_checked_against_targets() -> None:
    raw = iro_spec(
        targets=WITH_SERVICE,
        change={},
        imageFrom={"containerImageRefresh": "tasks-image", "container": "tasks"},
        smokeTests={},
    )
    containers = {(TargetKind.DEPLOYMENT, "tasks"): frozenset({"worker"})}
    _, problems = validate_infra_rollout(raw, containers=containers)
    assert fields(problems) == ["spec.imageFrom.container"]
    _, ok = validate_infra_rollout(
        raw, containers={(TargetKind.DEPLOYMENT, "tasks"): frozenset({"tasks"})}
    )
    assert ok == ()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"targets": [{"kind": "CronJob", "name": "x"}]}, "spec.targets[0].kind"),
        ({"strategy": canary({"weight": 10, "pause": "1m"})}, "spec.strategy.canary.steps[0]"),
        ({"strategy": canary({"weight": 50}, {"weight": 10})}, "spec.strategy.canary"),
        ({"targets": [{"kind": "ConfigMap", "name": "c"}]}, "spec.targets"),
        ({"change": {}}, "spec.change"),
        ({"bake": "5 minutes"}, "spec.bake"),
    ],
)
def test_iro_parse_problems_name_the_field(overrides: dict[str, Any], field: str) -> None:
    spec, problems = validate_infra_rollout(iro_spec(**overrides))
    assert spec is None
    assert field in fields(problems), problems


def test_field_path_and_summary() -> None:
    assert field_path(("tests", 0, "timeout")) == "spec.tests[0].timeout"
    problems = (
        Problem(field="spec.a", message="bad"),
        Problem(field="spec.b[1]", message="worse"),
    )
    assert summarize(problems) == "spec.a: bad; spec.b[1]: worse"


# --------------------------------------------------------------------------- examples
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("apiVersion", "").startswith("shakedown.dev/"):
                found.append((f"{path.name}:{doc['metadata']['name']}", doc))
    return found


def test_there_are_examples_of_every_kind() -> None:
    kinds = {doc["kind"] for _, doc in example_objects()}
    assert kinds == {"ContainerImageRefresh", "InfraRollout", "MetricTemplate"}


@pytest.mark.parametrize(("name", "doc"), example_objects(), ids=[n for n, _ in example_objects()])
def test_examples_pass_semantic_validation(name: str, doc: dict[str, Any]) -> None:
    if doc["kind"] == "MetricTemplate":
        MetricTemplateSpec.model_validate(doc["spec"])
        return
    validate: dict[str, Callable[[dict[str, Any]], tuple[object, tuple[Problem, ...]]]] = {
        "ContainerImageRefresh": validate_image_refresh,
        "InfraRollout": validate_infra_rollout,
    }
    spec, problems = validate[doc["kind"]](doc["spec"])
    assert spec is not None and problems == (), f"{name}: {summarize(problems)}"
