"""The pydantic models accept the API sketch and refuse what the CRD refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest
from pydantic import BaseModel, ValidationError

from shakedown.api import imagerefresh as api_imagerefresh
from shakedown.api import infrarollout as api_infrarollout
from shakedown.api.common import format_duration, parse_duration, short_digest
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    RunPhase,
    RunTrigger,
)
from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    InfraRolloutStatus,
    RolloutPhase,
    StrategyType,
)

DIGEST = "sha256:" + "ab" * 32


def cir_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": "registry.example/ci/unit-tests",
        "tag": "latest",
        "source": {
            "git": {
                "url": "https://example/repo.git",
                "revision": "main",
                "contextDir": "containers/unit-tests",
            },
            "containerfile": "Containerfile",
            "buildArgs": {"CC": "clang"},
        },
        "schedule": "0 22 * * 0",
        "timeZone": "UTC",
        "triggers": {"baseImage": True, "source": True, "pollInterval": "5m"},
        "tests": [
            {
                "name": "amd64-clang",
                "command": ["/usr/local/bin/run-tests"],
                "args": ["CC=clang"],
                "env": [{"name": "FOO", "value": "bar"}],
                "timeout": "30m",
            }
        ],
        "promote": True,
        "historyLimit": 5,
        "suspend": False,
        "insecureRegistry": False,
        "pushSecretRef": {"name": "registry-creds"},
    }
    spec.update(overrides)
    return spec


def iro_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "targets": [
            {"kind": "Deployment", "name": "tasks"},
            {"kind": "ConfigMap", "name": "tasks-config"},
        ],
        "change": {
            "images": [{"container": "tasks", "image": f"registry.example/ci/tasks@{DIGEST}"}],
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "tasks-config"},
                    "type": "merge",
                    "patch": {"data": {"WORKERS": "8"}},
                }
            ],
        },
        "shadow": {"ttl": "1h", "replicas": 1, "isolate": True, "copySecrets": []},
        "smokeTests": {
            "readyFor": "30s",
            "http": [
                {
                    "name": "health",
                    "service": "tasks",
                    "port": 8080,
                    "path": "/healthz",
                    "expectStatus": 200,
                }
            ],
            "jobs": [{"name": "representative", "command": ["/bin/run-smoke"], "timeout": "10m"}],
            "metrics": [
                {
                    "name": "errors",
                    "prometheus": {"address": "http://prometheus:9090", "query": "sum(x)"},
                    "successCondition": "result < 0.05",
                    "interval": "30s",
                    "count": 5,
                    "failureLimit": 1,
                }
            ],
        },
        "strategy": {
            "type": "Canary",
            "canary": {"steps": [{"weight": 25}, {"pause": "1m"}, {"weight": 100}]},
        },
        "bake": "5m",
        "rollback": {"automatic": True, "notReadyFor": "10s", "maxRestarts": 2},
        "timeout": "30m",
    }
    spec.update(overrides)
    return spec


# --------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2h0m5s", 7205), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "1m1h", "1.5h", "-5s", "5 m", "h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 61, 3600, 5400, 86399])
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_short_digest() -> None:
    assert short_digest(DIGEST) == "sha256:abababababab"
    assert short_digest(None) == ""


# --------------------------------------------------------------------------- ContainerImageRefresh
def test_cir_sketch_round_trips_with_camel_case() -> None:
    spec = ContainerImageRefreshSpec.model_validate(cir_spec())
    assert spec.source.git is not None
    assert spec.source.git.context_dir == "containers/unit-tests"
    assert spec.triggers.poll_interval == "5m"
    assert spec.history_limit == 5
    api = spec.to_api()
    assert api["pushSecretRef"] == {"name": "registry-creds"}
    assert api["source"]["buildArgs"] == {"CC": "clang"}
    assert ContainerImageRefreshSpec.model_validate(api) == spec


def test_cir_defaults() -> None:
    spec = ContainerImageRefreshSpec.model_validate(
        {
            "image": "127.0.0.1:5000/ci/base",
            "source": {"configMap": {"name": "ctx"}},
            "tests": [{"name": "smoke"}],
        }
    )
    assert spec.tag == "latest"
    assert spec.promote is True
    assert spec.time_zone == "UTC"
    assert spec.triggers.base_image and spec.triggers.source
    assert spec.source.containerfile == "Containerfile"
    assert spec.schedule is None


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"source": {"containerfile": "Containerfile"}}, "exactly one of source.git"),
        (
            {"source": {"git": {"url": "https://e/r.git"}, "configMap": {"name": "c"}}},
            "exactly one of source.git",
        ),
        ({"image": "registry.example/ci/unit-tests:latest"}, "image"),
        ({"tag": "bad tag"}, "tag"),
        ({"historyLimit": 0}, "historyLimit"),
        ({"historyLimit": 51}, "historyLimit"),
        ({"schedule": "every day"}, "schedule"),
        ({"tests": []}, "tests"),
        ({"tests": [{"name": "a"}, {"name": "a"}]}, "duplicate test name"),
        ({"tests": [{"name": "a", "timeout": "30 minutes"}]}, "timeout"),
        ({"promot": True}, "promot"),
    ],
)
def test_cir_refuses(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        ContainerImageRefreshSpec.model_validate(cir_spec(**overrides))


def test_cir_status_round_trip_keeps_resumable_state() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = ContainerImageRefreshStatus(
        promoted_digest=DIGEST,
        current_run=CurrentRun(
            id="r1",
            trigger=RunTrigger.MANUAL,
            phase=RunPhase.TESTING,
            started_at=now,
            build_job="unit-tests-r1-build",
            candidate_digest=DIGEST,
        ),
    )
    api = status.to_api()
    assert api["currentRun"]["buildJob"] == "unit-tests-r1-build"
    assert api["currentRun"]["startedAt"] == "2026-01-02T03:04:05Z"
    again = ContainerImageRefreshStatus.model_validate(api)
    assert again == status
    assert not again.current_run or not again.current_run.phase.finished


def test_status_ignores_unknown_fields_from_newer_operators() -> None:
    status = ContainerImageRefreshStatus.model_validate({"somethingNew": 1})
    assert status.promoted_digest is None


# --------------------------------------------------------------------------- InfraRollout
def test_iro_sketch_round_trips() -> None:
    spec = InfraRolloutSpec.model_validate(iro_spec())
    assert spec.strategy.type is StrategyType.CANARY
    assert spec.strategy.canary is not None
    assert [s.weight for s in spec.strategy.canary.steps] == [25, None, 100]
    assert spec.smoke_tests.metrics[0].failure_limit == 1
    assert [t.name for t in spec.workload_targets()] == ["tasks"]
    assert InfraRolloutSpec.model_validate(spec.to_api()) == spec


def test_iro_image_from_alone_is_a_change() -> None:
    spec = InfraRolloutSpec.model_validate(
        {
            "targets": [{"kind": "Deployment", "name": "tasks"}],
            "imageFrom": {"containerImageRefresh": "tasks-image", "container": "tasks"},
        }
    )
    assert spec.strategy.type is StrategyType.REPLACE
    assert spec.image_from is not None


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"targets": []}, "targets"),
        ({"targets": [{"kind": "CronJob", "name": "x"}]}, "kind"),
        ({"targets": [{"kind": "ConfigMap", "name": "tasks-config"}]}, "at least one Deployment"),
        ({"change": {}}, "spec.change"),
        ({"strategy": {"type": "Canary"}}, "needs strategy.canary"),
        (
            {"strategy": {"type": "Replace", "canary": {"steps": [{"weight": 5}]}}},
            "only allowed with strategy.type Canary",
        ),
        (
            {"strategy": {"type": "Canary", "canary": {"steps": [{"weight": 5, "pause": "1m"}]}}},
            "exactly one of weight or pause",
        ),
        (
            {"strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"weight": 10}]}}},
            "must not decrease",
        ),
        (
            {"strategy": {"type": "Canary", "canary": {"steps": [{"weight": 101}]}}},
            "weight",
        ),
        ({"bake": "forever"}, "bake"),
        ({"shadow": {"replicas": 0}}, "replicas"),
    ],
)
def test_iro_refuses(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        InfraRolloutSpec.model_validate(iro_spec(**overrides))


def test_iro_status_defaults_and_round_trip() -> None:
    status = InfraRolloutStatus()
    assert status.phase is RolloutPhase.PENDING
    assert not status.phase.finished
    moved = status.model_copy(update={"phase": RolloutPhase.ROLLED_BACK, "revision": 3})
    assert moved.phase.finished
    assert InfraRolloutStatus.model_validate(moved.to_api()) == moved


def test_a_run_changed_to_a_phase_that_does_not_exist_is_refused() -> None:
    run = CurrentRun(id="1", trigger=RunTrigger.MANUAL)
    with pytest.raises(ValidationError, match="phase"):
        run.evolve(phase="NotAPhase")  # type: ignore[arg-type]
    parsed = run.evolve(phase="Building")  # type: ignore[arg-type]
    assert parsed.phase is RunPhase.BUILDING, "wire values are parsed"


def _typed_changes() -> list[tuple[type[BaseModel], type]]:
    """Every ``<Model>Changes`` TypedDict of the API, with its model."""
    pairs = []
    for module in (api_infrarollout, api_imagerefresh):
        for name in module.__all__:
            if name.endswith("Changes") and name != "EntryChanges":
                pairs.append((getattr(module, name.removesuffix("Changes")), getattr(module, name)))
    return pairs


@pytest.mark.parametrize("model, changes", _typed_changes(), ids=lambda v: v.__name__)
def test_the_typed_changes_of_a_model_name_its_fields_with_their_types(
    model: type[BaseModel], changes: type
) -> None:
    # What mypy checks an evolve(...) call against must be what pydantic validates.
    hints = get_type_hints(model)
    assert get_type_hints(changes) == {name: hints[name] for name in model.model_fields}


def test_every_model_the_planners_change_has_typed_changes() -> None:
    named = {model.__name__ for model, _ in _typed_changes()}
    assert named == {
        "InfraRolloutStatus",
        "CheckStatus",
        "ContainerImageRefreshStatus",
        "CurrentRun",
        "TestRunState",
        "PhaseTiming",
        "RunSummary",
        "FailedTest",
        "PendingTrigger",
        "ObservedInputs",
    }


def test_a_span_says_how_long_it_took_only_once_it_ended() -> None:
    start = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    running = api_imagerefresh.PhaseTiming(name="Build", started_at=start)
    assert running.seconds is None
    ended = running.evolve(finished_at=datetime(2026, 12, 1, 4, 1, 30, tzinfo=UTC))
    assert ended.seconds == 90.0
    skewed = running.evolve(finished_at=datetime(2026, 12, 1, 3, 59, tzinfo=UTC))
    assert skewed.seconds == 0.0, "a clock that stepped back is no negative duration"
    check = api_infrarollout.CheckStatus.model_validate(
        {"name": "Ready", "type": "Ready", "startedAt": "2026-12-01T04:00:00Z"}
    )
    assert check.started_at == start and check.seconds is None
