"""Pluggable checks: one module per kind, all behind ``base.Check``.

``readiness`` (judged from observed pods), ``http`` (a request through the
Service from inside the cluster), ``job`` (a test Job in the candidate image),
``prometheus`` (a query judged by ``successCondition``). A new kind is a new
module and one line in ``registry``.
"""

from __future__ import annotations

from shakedown.checks.base import Check, CheckContext, CheckOutcome
from shakedown.checks.http import HttpCheck
from shakedown.checks.job import JobCheck
from shakedown.checks.prometheus import PrometheusCheck
from shakedown.checks.readiness import ReadinessCheck

__all__ = ["Check", "CheckContext", "CheckOutcome", "registry"]


def registry() -> dict[str, Check]:
    """Check implementations by ``CheckType`` value."""
    return {
        "Ready": ReadinessCheck(),
        "HTTP": HttpCheck(),
        "Job": JobCheck(),
        "Metric": PrometheusCheck(),
    }
