"""InfraRollout metrics: results, rollbacks, phase durations, reaction time, state.

Every series names its InfraRollout (``namespace``, ``name``), so a dashboard
can say which rollout rolled back; the other labels take a few fixed values
(``result``, ``reason``, ``phase``, ``strategy``). ``forget`` drops an
object's series when it is deleted.

``shakedown_infrarollout_rollback_latency_seconds`` is the number the rollback
promise rests on: from the moment a failure became observable by the rules
(a pod's Ready=False transition plus ``rollback.notReadyFor``, or the check
that failed) to the moment the restore of the snapshot was accepted by the API
server.
"""

from __future__ import annotations

from shakedown.api import infrarollout as api_infrarollout
from shakedown.metrics import KindSeries

SERIES = KindSeries(api_infrarollout.NAMES.kind)

REVISIONS = SERIES.counter(
    "shakedown_infrarollout_revisions_total",
    "InfraRollout revisions that ended, by result (Succeeded, RolledBack, Failed, Aborted).",
    "result",
)
ROLLBACKS = SERIES.counter(
    "shakedown_infrarollout_rollbacks_total",
    "Rollbacks of production to the snapshot, by reason (NotReady, Restarts, Aborted, ...).",
    "reason",
)
PHASE_SECONDS = SERIES.histogram(
    "shakedown_infrarollout_phase_duration_seconds",
    "Time spent in each InfraRollout phase.",
    "phase",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ROLLBACK_LATENCY = SERIES.histogram(
    "shakedown_infrarollout_rollback_latency_seconds",
    "From a production failure becoming observable to the rollback being applied.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10),
)
INFO = SERIES.info(
    "shakedown_infrarollout_info",
    "1 per InfraRollout; its labels are the current phase and the strategy type.",
    "phase",
    "strategy",
)


def revision_ended(*, namespace: str, name: str, result: str) -> None:
    REVISIONS.labels(namespace, name, result).inc()


def rollback_started(*, namespace: str, name: str, reason: str) -> None:
    ROLLBACKS.labels(namespace, name, reason).inc()


def phase_finished(*, namespace: str, name: str, phase: str, seconds: float) -> None:
    PHASE_SECONDS.labels(namespace, name, phase).observe(max(0.0, seconds))


def rollback_applied(*, namespace: str, name: str, seconds: float) -> None:
    ROLLBACK_LATENCY.labels(namespace, name).observe(max(0.0, seconds))


def state(*, namespace: str, name: str, phase: str, strategy: str) -> None:
    """The rollout's current phase and strategy (``shakedown_infrarollout_info``)."""
    INFO.set(namespace=namespace, name=name, phase=phase, strategy=strategy)


def forget(*, namespace: str, name: str) -> None:
    """Drop every series of a deleted InfraRollout."""
    SERIES.forget(namespace=namespace, name=name)
