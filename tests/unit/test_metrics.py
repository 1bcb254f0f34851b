"""Per-object metrics: they name the object, stay one info series per object, and go with it."""

from __future__ import annotations

from shakedown import metrics
from shakedown.conditions import Health, with_health
from shakedown.metrics import REGISTRY
from shakedown.metrics import imagerefresh as refresh_metrics
from shakedown.metrics import infrarollout as rollout_metrics

#: Labels whose values are few and fixed, plus the object's namespace and name.
#: Run ids, digests, revisions and messages would grow without bound: never labels.
BOUNDED_LABELS = {
    *("namespace", "name", "kind", "health", "reason", "result", "trigger"),
    *("phase", "strategy", "why", "image", "tag", "le", "version"),
}


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def series(metric: str, **labels: str) -> list[dict[str, str]]:
    """Label sets of the samples called ``metric`` that carry ``labels``."""
    return [
        sample.labels
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == metric and labels.items() <= sample.labels.items()
    ]


def test_infrarollout_series_name_the_rollout_and_go_when_it_is_deleted() -> None:
    web = {"namespace": "infra-m1", "name": "web"}
    db = {"namespace": "infra-m1", "name": "db"}
    for who in (web, db):
        rollout_metrics.phase_finished(**who, phase="Baking", seconds=4.0)
        rollout_metrics.rollback_started(**who, reason="NotReady")
        rollout_metrics.rollback_applied(**who, seconds=0.2)
        rollout_metrics.revision_ended(**who, result="RolledBack")
        rollout_metrics.state(**who, phase="RolledBack", strategy="Canary")
    assert value("shakedown_infrarollout_rollbacks_total", **web, reason="NotReady") == 1
    assert value("shakedown_infrarollout_revisions_total", **web, result="RolledBack") == 1
    assert value("shakedown_infrarollout_phase_duration_seconds_sum", **web, phase="Baking") == 4
    assert value("shakedown_infrarollout_rollback_latency_seconds_count", **web) == 1

    rollout_metrics.forget(**web)
    for metric in (
        "shakedown_infrarollout_rollbacks_total",
        "shakedown_infrarollout_revisions_total",
        "shakedown_infrarollout_phase_duration_seconds_count",
        "shakedown_infrarollout_rollback_latency_seconds_count",
        "shakedown_infrarollout_info",
    ):
        assert series(metric, **web) == [], metric
        assert len(series(metric, **db)) == 1, metric


def test_info_gauge_keeps_one_series_per_object() -> None:
    who = {"namespace": "infra-m2", "name": "web"}
    rollout_metrics.state(**who, phase="Shifting", strategy="Canary")
    rollout_metrics.state(**who, phase="Baking", strategy="Canary")
    assert series("shakedown_infrarollout_info", **who) == [
        {**who, "phase": "Baking", "strategy": "Canary"}
    ]
    assert value("shakedown_infrarollout_info", **who, phase="Baking", strategy="Canary") == 1
    rollout_metrics.forget(**who)
    assert series("shakedown_infrarollout_info", **who) == []


def test_imagerefresh_series_name_the_resource_and_go_when_it_is_deleted() -> None:
    app = {"namespace": "ci-m3", "name": "app"}
    other = {"namespace": "ci-m3", "name": "other"}
    for who in (app, other):
        refresh_metrics.state(**who, image="registry:5000/app", tag="latest", phase=None)
        refresh_metrics.run_finished(
            **who,
            trigger="Schedule",
            result="Succeeded",
            phase_seconds={"Build": 30.0, "Test": 12.0, "Run": 45.0},
            promoted_at=1000.0,
        )
        refresh_metrics.tag_moved(**who, why="promote")
        refresh_metrics.state(**who, image="registry:5000/app", tag="latest", phase="Succeeded")
    assert series("shakedown_imagerefresh_info", **app) == [
        {**app, "image": "registry:5000/app", "tag": "latest", "phase": "Succeeded"}
    ]
    assert value("shakedown_imagerefresh_phase_duration_seconds_sum", **app, phase="Build") == 30
    assert value("shakedown_imagerefresh_last_promotion_timestamp_seconds", **app) == 1000

    refresh_metrics.forget(**app)
    for metric in (
        "shakedown_imagerefresh_runs_total",
        "shakedown_imagerefresh_phase_duration_seconds_count",
        "shakedown_imagerefresh_last_promotion_timestamp_seconds",
        "shakedown_imagerefresh_tag_moves_total",
        "shakedown_imagerefresh_info",
    ):
        assert series(metric, **app) == [], metric
        assert series(metric, **other), metric


def test_a_resource_before_its_first_run_says_so() -> None:
    who = {"namespace": "ci-m4", "name": "app"}
    refresh_metrics.state(**who, image="r/app", tag="v1", phase=None)
    assert value("shakedown_imagerefresh_info", **who, image="r/app", tag="v1", phase="NoRun") == 1
    refresh_metrics.forget(**who)


def test_per_object_metrics_carry_namespace_and_name_and_only_bounded_labels() -> None:
    who = {"namespace": "ci-m5", "name": "probe"}
    metrics.observe(kind="InfraRollout", **who, health="Ready", reason="Succeeded")
    rollout_metrics.phase_finished(**who, phase="Baking", seconds=1.0)
    rollout_metrics.rollback_started(**who, reason="NotReady")
    rollout_metrics.rollback_applied(**who, seconds=0.1)
    rollout_metrics.revision_ended(**who, result="RolledBack")
    rollout_metrics.state(**who, phase="RolledBack", strategy="Replace")
    refresh_metrics.run_finished(
        **who, trigger="Spec", result="Failed", phase_seconds={"Build": 5.0}, promoted_at=1.0
    )
    refresh_metrics.tag_moved(**who, why="rollback")
    refresh_metrics.state(**who, image="r/probe", tag="v1", phase="Failed")
    per_object = ("shakedown_infrarollout_", "shakedown_imagerefresh_", "shakedown_object_")
    families = [f for f in REGISTRY.collect() if f.name.startswith(per_object)]
    assert len(families) == 11, [f.name for f in families]
    for family in families:
        assert family.samples, family.name
        for sample in family.samples:
            assert {"namespace", "name"} <= sample.labels.keys(), sample
            assert sample.labels.keys() <= BOUNDED_LABELS, sample
    for family in REGISTRY.collect():
        if family.name.startswith("shakedown_"):
            for sample in family.samples:
                assert sample.labels.keys() <= BOUNDED_LABELS, sample
    metrics.forget(kind="InfraRollout", **who)
    rollout_metrics.forget(**who)
    refresh_metrics.forget(**who)


def test_series_per_object_are_as_many_as_the_readme_says() -> None:
    """The README's cardinality numbers: an object's worst case, all phases and results seen."""
    rollout = {"namespace": "ci-m6", "name": "busy"}
    metrics.observe(kind="InfraRollout", **rollout, health="Ready", reason="RolledBack")
    for phase in ("Pending", "Snapshotting", "Shadowing", "SmokeTesting", "Shifting", "Baking"):
        rollout_metrics.phase_finished(**rollout, phase=phase, seconds=1.0)
    rollout_metrics.phase_finished(**rollout, phase="RollingBack", seconds=1.0)
    rollout_metrics.rollback_started(**rollout, reason="NotReady")
    rollout_metrics.rollback_applied(**rollout, seconds=0.1)
    rollout_metrics.revision_ended(**rollout, result="Succeeded")
    rollout_metrics.revision_ended(**rollout, result="RolledBack")
    rollout_metrics.state(**rollout, phase="RolledBack", strategy="Canary")

    refresh = {"namespace": "ci-m6", "name": "image"}
    metrics.observe(kind="ContainerImageRefresh", **refresh, health="Ready", reason="Promoted")
    everything = {"Build": 1.0, "Test": 1.0, "Promote": 1.0, "Run": 1.0}
    refresh_metrics.run_finished(
        **refresh, trigger="Schedule", result="Succeeded", phase_seconds=everything, promoted_at=1
    )
    refresh_metrics.run_finished(
        **refresh, trigger="Schedule", result="Failed", phase_seconds={}, promoted_at=None
    )
    refresh_metrics.tag_moved(**refresh, why="promote")
    refresh_metrics.state(**refresh, image="r/image", tag="v1", phase="Failed")

    def count(who: dict[str, str]) -> int:
        return sum(
            1
            for family in REGISTRY.collect()
            for sample in family.samples
            if (sample.labels.get("namespace"), sample.labels.get("name"))
            == (who["namespace"], who["name"])
        )

    assert (count(rollout), count(refresh)) == (126, 68)
    assert not [s for f in REGISTRY.collect() for s in f.samples if s.name.endswith("_created")]
    # What the delete handler calls: the kind's own series go too.
    for kind, who in (("InfraRollout", rollout), ("ContainerImageRefresh", refresh)):
        metrics.forget(kind=kind, **who)
        assert count(who) == 0


def test_health_follows_the_conditions_a_runner_wrote() -> None:
    who = {"kind": "ContainerImageRefresh", "namespace": "ci-m7", "name": "app"}
    stalled = with_health(
        [], Health.STALLED, reason="RegistryUnreachable", message="no route", generation=1
    )
    metrics.health_from(**who, conditions=stalled)
    assert [value("shakedown_object_health", **who, health=h) for h in metrics.HEALTH_STATES] == [
        0,
        0,
        1,
    ]
    metrics.health_from(**who, conditions=[])  # nothing written yet: left as it was
    assert value("shakedown_object_health", **who, health="Stalled") == 1
    ready = with_health(stalled, Health.READY, reason="Promoted", message="", generation=1)
    metrics.health_from(**who, conditions=ready)
    assert value("shakedown_object_health", **who, health="Ready") == 1
    assert value("shakedown_object_health", **who, health="Stalled") == 0
    metrics.forget(**who)


def test_health_series_per_object_and_forgotten_on_delete() -> None:
    labels = {"kind": "InfraRollout", "namespace": "infra", "name": "tasks-metrics-test"}

    def health(state: str) -> float | None:
        return REGISTRY.get_sample_value("shakedown_object_health", {**labels, "health": state})

    metrics.observe(**labels, health="Reconciling", reason="Shifting")
    assert (health("Reconciling"), health("Ready"), health("Stalled")) == (1.0, 0.0, 0.0)
    metrics.observe(**labels, health="Ready", reason="Succeeded")
    assert (health("Reconciling"), health("Ready")) == (0.0, 1.0)
    metrics.forget(**labels)
    assert health("Ready") is None
