"""Prometheus metrics of ContainerImageRefresh runs.

Runs by trigger and result (a failing refresh is an alert, not a log line),
phase durations as histograms (is the build or the test suite getting
slower?), and the time of the last successful promotion per resource (alert
when an image has not been refreshed for longer than its schedule promises).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

from shakedown.metrics import REGISTRY

RUNS = Counter(
    "shakedown_imagerefresh_runs_total",
    "Finished ContainerImageRefresh runs by trigger and result.",
    ["namespace", "name", "trigger", "result"],
    registry=REGISTRY,
)

PHASE_SECONDS = Histogram(
    "shakedown_imagerefresh_phase_duration_seconds",
    "Duration of run phases (Build, Test, Promote) and of whole runs (Run).",
    ["phase"],
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
    registry=REGISTRY,
)

LAST_PROMOTION = Gauge(
    "shakedown_imagerefresh_last_promotion_timestamp_seconds",
    "Unix time of the last successful promotion of each ContainerImageRefresh.",
    ["namespace", "name"],
    registry=REGISTRY,
)

TAG_MOVES = Counter(
    "shakedown_imagerefresh_tag_moves_total",
    "Registry tag moves (manifest PUTs) made for promotions and rollbacks.",
    ["namespace", "name", "why"],
    registry=REGISTRY,
)


def run_finished(
    *,
    namespace: str,
    name: str,
    trigger: str,
    result: str,
    phase_seconds: Mapping[str, float],
    promoted_at: float | None,
) -> None:
    """Record a finished run."""
    RUNS.labels(namespace=namespace, name=name, trigger=trigger, result=result).inc()
    for phase, seconds in phase_seconds.items():
        PHASE_SECONDS.labels(phase=phase).observe(seconds)
    if promoted_at is not None:
        LAST_PROMOTION.labels(namespace=namespace, name=name).set(promoted_at)


def promoted_at(*, namespace: str, name: str, timestamp: float) -> None:
    """Set the last promotion time of a resource (from its status history)."""
    LAST_PROMOTION.labels(namespace=namespace, name=name).set(timestamp)


def tag_moved(*, namespace: str, name: str, why: str) -> None:
    TAG_MOVES.labels(namespace=namespace, name=name, why=why).inc()


def forget(*, namespace: str, name: str) -> None:
    """Drop the per-resource gauge of a deleted resource."""
    with contextlib.suppress(KeyError):
        LAST_PROMOTION.remove(namespace, name)
