"""Prometheus metrics of the operator.

One registry, ``REGISTRY``, served over HTTP by ``shakedown run`` (``serve``).
Kind-specific metrics live beside this module (``metrics/imagerefresh.py``,
``metrics/infrarollout.py``) and register themselves on ``REGISTRY``; this
module holds what every kind shares: how often objects were reconciled and in
which kstatus state they are.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from shakedown import __version__

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

BUILD_INFO = Info("shakedown_build", "Version of the running operator.", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

RECONCILIATIONS = Counter(
    "shakedown_reconciliations_total",
    "Handler runs per kind and the kstatus state they reported.",
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


def observe(*, kind: str, namespace: str, name: str, health: str, reason: str) -> None:
    """Record one reconciliation of an object and its resulting state."""
    RECONCILIATIONS.labels(kind=kind, health=health, reason=reason).inc()
    for state in HEALTH_STATES:
        HEALTH.labels(kind=kind, namespace=namespace, name=name, health=state).set(
            1 if state == health else 0
        )


def forget(*, kind: str, namespace: str, name: str) -> None:
    """Drop the series of a deleted object."""
    for state in HEALTH_STATES:
        try:
            HEALTH.remove(kind, namespace, name, state)
        except KeyError:
            continue


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port`` in a background thread."""
    start_http_server(port, addr=address, registry=REGISTRY)
