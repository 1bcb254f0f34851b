"""InfraRollout metrics: results, rollbacks, phase durations, reaction time.

``shakedown_infrarollout_rollback_latency_seconds`` is the number the rollback
promise rests on: from the moment a failure became observable by the rules
(a pod's Ready=False transition plus ``rollback.notReadyFor``, or the check
that failed) to the moment the restore of the snapshot was accepted by the API
server.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shakedown.metrics import REGISTRY

REVISIONS = Counter(
    "shakedown_infrarollout_revisions_total",
    "InfraRollout revisions that ended, by result (Succeeded, RolledBack, Failed, Aborted).",
    ["result"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "shakedown_infrarollout_rollbacks_total",
    "Rollbacks of production to the snapshot, by reason (NotReady, Restarts, Aborted, ...).",
    ["reason"],
    registry=REGISTRY,
)
PHASE_SECONDS = Histogram(
    "shakedown_infrarollout_phase_duration_seconds",
    "Time spent in each InfraRollout phase.",
    ["phase"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
ROLLBACK_LATENCY = Histogram(
    "shakedown_infrarollout_rollback_latency_seconds",
    "From a production failure becoming observable to the rollback being applied.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10),
    registry=REGISTRY,
)


def revision_ended(result: str) -> None:
    REVISIONS.labels(result=result).inc()


def rollback_started(reason: str) -> None:
    ROLLBACKS.labels(reason=reason).inc()


def phase_finished(phase: str, seconds: float) -> None:
    PHASE_SECONDS.labels(phase=phase).observe(max(0.0, seconds))


def rollback_applied(seconds: float) -> None:
    ROLLBACK_LATENCY.observe(max(0.0, seconds))
