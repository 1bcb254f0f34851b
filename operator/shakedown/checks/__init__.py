"""Pluggable checks: one module per kind, all behind ``base.Check``.

``readiness`` (judged from observed pods), ``http`` (a request through the
Service from inside the cluster), ``job`` (a test Job in the candidate image),
``prometheus`` (a query judged by ``successCondition``). A new kind is a new
module and one line in ``registry``.
"""

from __future__ import annotations

from shakedown.api.infrarollout import CheckType
from shakedown.checks.base import Check, CheckContext, CheckOutcome
from shakedown.checks.http import HttpCheck
from shakedown.checks.job import JobCheck
from shakedown.checks.prometheus import PrometheusCheck
from shakedown.checks.readiness import ReadinessCheck

__all__ = ["Check", "CheckContext", "CheckOutcome", "registry"]


def registry() -> dict[CheckType, Check]:
    """Check implementations by check type."""
    return {
        CheckType.READY: ReadinessCheck(),
        CheckType.HTTP: HttpCheck(),
        CheckType.JOB: JobCheck(),
        CheckType.METRIC: PrometheusCheck(),
    }
