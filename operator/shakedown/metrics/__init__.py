"""Prometheus metrics of the operator.

One registry, ``REGISTRY``, served over HTTP by ``shakedown run`` (``serve``).
Kind-specific metrics live beside this module (``metrics/imagerefresh.py``,
``metrics/infrarollout.py``) and register themselves on ``REGISTRY``; this
module holds what every kind shares: how often objects were reconciled, in
which kstatus state they are, and ``ObjectInfo`` for the per-object info gauges.

Cardinality: every per-object series carries ``namespace`` and ``name`` (so a
dashboard can say *which* object), plus only labels with a small, fixed set of
values (phase, result, trigger, strategy, reason, health) or one value per
object (a ContainerImageRefresh's image and tag). Run ids, digests,
revisions and messages are never labels. The series of an object are removed
when it is deleted, so the count of series follows the number of objects;
no ``*_created`` series are exported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase

from shakedown import __version__
from shakedown.api.common import Condition
from shakedown.conditions import health_of

# The ``*_created`` series of every counter and histogram would double their
# series in Prometheus (the text format has them as plain gauges) for a start
# time nobody queries.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

BUILD_INFO = Info("shakedown_build", "Version of the running operator.", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

RECONCILIATIONS = Counter(
    "shakedown_reconciliations_total",
    "Spec verdicts per kind and the kstatus state they reported (refused specs).",
    ["kind", "health", "reason"],
    registry=REGISTRY,
)

HEALTH = Gauge(
    "shakedown_object_health",
    "1 for the kstatus state (Ready, Reconciling, Stalled) each object is in, else 0.",
    ["kind", "namespace", "name", "health"],
    registry=REGISTRY,
)

HEALTH_STATES = ("Ready", "Reconciling", "Stalled")

#: The labels every per-object series starts with.
OBJECT = ("namespace", "name")


class ObjectInfo:
    """An info gauge: one series per object, value 1, whose labels say its state.

    Modelled on Argo Rollouts' ``rollout_info{namespace,name,phase,strategy}``:
    join it to other series ``on (namespace, name)`` to add the phase. When the
    state changes the object's old series is removed, so there is never more
    than one per object (a query for ``phase="Failed"`` never sees stale ones).
    """

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self._labelnames = labelnames
        self._gauge = Gauge(name, documentation, [*OBJECT, *labelnames], registry=REGISTRY)
        self._current: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def set(self, *, namespace: str, name: str, **labels: str) -> None:
        """Say the object is now in this state (replacing its previous series)."""
        values = tuple(str(labels[label]) for label in self._labelnames)
        key = (namespace, name)
        with self._lock:
            old = self._current.get(key)
            if old == values:
                return
            self._gauge.labels(namespace, name, *values).set(1)
            if old is not None:
                self._gauge.remove(namespace, name, *old)
            self._current[key] = values

    def forget(self, *, namespace: str, name: str) -> None:
        with self._lock:
            old = self._current.pop((namespace, name), None)
            if old is not None:
                self._gauge.remove(namespace, name, *old)


_Metric = TypeVar("_Metric", bound=MetricWrapperBase)


class KindSeries:
    """The per-object series of one kind, declared here so a deleted object loses all of them.

    Each kind once listed its series twice, where it declared them and again in
    its ``forget``; a series added to one list and not the other outlived its
    object. Every series made here is labelled ``namespace`` and ``name`` first
    and lives on ``REGISTRY``.
    """

    def __init__(self, kind: str) -> None:
        self._metrics: list[MetricWrapperBase] = []
        self._infos: list[ObjectInfo] = []
        forget_with(kind, lambda namespace, name: self.forget(namespace=namespace, name=name))

    def _keep(self, metric: _Metric) -> _Metric:
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return self._keep(Counter(name, documentation, [*OBJECT, *labels], registry=REGISTRY))

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return self._keep(Gauge(name, documentation, [*OBJECT, *labels], registry=REGISTRY))

    def histogram(
        self, name: str, documentation: str, *labels: str, buckets: Sequence[float]
    ) -> Histogram:
        labelnames = [*OBJECT, *labels]
        return self._keep(
            Histogram(name, documentation, labelnames, buckets=buckets, registry=REGISTRY)
        )

    def info(self, name: str, documentation: str, *labels: str) -> ObjectInfo:
        info = ObjectInfo(name, documentation, labels)
        self._infos.append(info)
        return info

    def forget(self, *, namespace: str, name: str) -> None:
        """Drop every series of a deleted object."""
        forget_series(self._metrics, namespace=namespace, name=name)
        for info in self._infos:
            info.forget(namespace=namespace, name=name)


def forget_series(metrics: Iterable[MetricWrapperBase], *, namespace: str, name: str) -> None:
    """Remove every series of one object from metrics labelled with namespace and name."""
    for metric in metrics:
        metric.remove_by_labels({"namespace": namespace, "name": name})


def observe(*, kind: str, namespace: str, name: str, health: str, reason: str) -> None:
    """Record one reconciliation of an object and its resulting state."""
    RECONCILIATIONS.labels(kind=kind, health=health, reason=reason).inc()
    set_health(kind=kind, namespace=namespace, name=name, health=health)


def set_health(*, kind: str, namespace: str, name: str, health: str) -> None:
    for state in HEALTH_STATES:
        HEALTH.labels(kind=kind, namespace=namespace, name=name, health=state).set(
            1 if state == health else 0
        )


def health_from(*, kind: str, namespace: str, name: str, conditions: Iterable[Condition]) -> None:
    """The health gauge from the kstatus conditions a runner just wrote.

    The runners of both kinds write their conditions themselves (not through
    a handler's verdict), so this is how a runtime Stalled or Ready reaches
    ``shakedown_object_health`` and the ShakedownObjectStalled alert.
    """
    health = health_of(conditions)
    if health is not None:
        set_health(kind=kind, namespace=namespace, name=name, health=health.value)


#: Per-kind removal of a deleted object's series, registered by metrics/<kind>.py.
_FORGET: dict[str, Callable[[str, str], None]] = {}


def forget_with(kind: str, drop: Callable[[str, str], None]) -> None:
    """Have ``forget`` for ``kind`` also call ``drop(namespace, name)``."""
    _FORGET[kind] = drop


def forget(*, kind: str, namespace: str, name: str) -> None:
    """Drop every series of a deleted object: its health and its kind's series.

    Called by the optional delete handler, which kopf runs after the kinds' own
    delete handlers (an InfraRollout's finalizer restores production first), so
    nothing records for the object afterwards.
    """
    for state in HEALTH_STATES:
        try:
            HEALTH.remove(kind, namespace, name, state)
        except KeyError:
            continue
    drop = _FORGET.get(kind)
    if drop is not None:
        drop(namespace, name)


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port`` in a background thread."""
    start_http_server(port, addr=address, registry=REGISTRY)
