"""Prometheus metrics of ContainerImageRefresh runs.

Runs by trigger and result (a failing refresh is an alert, not a log line),
phase durations as histograms (is the build or the test suite getting
slower?), the time of the last successful promotion per resource (alert
when an image has not been refreshed for longer than its schedule promises),
and an info gauge with the phase of the run in flight or of the last one.

Every series names its ContainerImageRefresh (``namespace``, ``name``); run
ids and digests are never labels. ``forget`` drops an object's series when
it is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping

from shakedown.api import imagerefresh as api_imagerefresh
from shakedown.metrics import KindSeries

SERIES = KindSeries(api_imagerefresh.NAMES.kind)

RUNS = SERIES.counter(
    "shakedown_imagerefresh_runs_total",
    "Finished ContainerImageRefresh runs by trigger and result.",
    "trigger",
    "result",
)
PHASE_SECONDS = SERIES.histogram(
    "shakedown_imagerefresh_phase_duration_seconds",
    "Duration of run phases (Build, Test, Promote) and of whole runs (Run).",
    "phase",
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
LAST_PROMOTION = SERIES.gauge(
    "shakedown_imagerefresh_last_promotion_timestamp_seconds",
    "Unix time of the last successful promotion of each ContainerImageRefresh.",
)
TAG_MOVES = SERIES.counter(
    "shakedown_imagerefresh_tag_moves_total",
    "Registry tag moves (manifest PUTs) made for promotions and rollbacks.",
    "why",
)
INFO = SERIES.info(
    "shakedown_imagerefresh_info",
    "1 per ContainerImageRefresh; its labels are the image, the tag and the phase of the run "
    "in flight or of the last run (NoRun before the first).",
    "image",
    "tag",
    "phase",
)

#: The ``phase`` of ``shakedown_imagerefresh_info`` before the first run.
NO_RUN = "NoRun"


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
        PHASE_SECONDS.labels(namespace=namespace, name=name, phase=phase).observe(seconds)
    if promoted_at is not None:
        LAST_PROMOTION.labels(namespace=namespace, name=name).set(promoted_at)


def promoted_at(*, namespace: str, name: str, timestamp: float) -> None:
    """Set the last promotion time of a resource (from its status history)."""
    LAST_PROMOTION.labels(namespace=namespace, name=name).set(timestamp)


def tag_moved(*, namespace: str, name: str, why: str) -> None:
    TAG_MOVES.labels(namespace=namespace, name=name, why=why).inc()


def state(*, namespace: str, name: str, image: str, tag: str, phase: str | None) -> None:
    """The resource's image, tag and run phase (``shakedown_imagerefresh_info``)."""
    INFO.set(namespace=namespace, name=name, image=image, tag=tag, phase=phase or NO_RUN)


def forget(*, namespace: str, name: str) -> None:
    """Drop every series of a deleted resource."""
    SERIES.forget(namespace=namespace, name=name)
