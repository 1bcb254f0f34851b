"""Leader election metrics: which replica acts, and how often leadership moved.

``shakedown_leader`` is 1 on the replica that holds the Lease and acts, 0 on a
standby, so "exactly one active" is a sum a dashboard or alert can check.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shakedown.metrics import REGISTRY

LEADER = Gauge(
    "shakedown_leader",
    "1 while this replica holds the leader Lease and acts; 0 while it stands by.",
    registry=REGISTRY,
)
ACQUISITIONS = Counter(
    "shakedown_leader_acquisitions_total",
    "Times this replica took the leader Lease.",
    registry=REGISTRY,
)
