"""Pluggable checks: one module per kind, all behind ``base.Check``.

``http`` (a request through the Service from inside the cluster), ``job`` (a
test Job in the candidate image), ``prometheus`` (a query judged by
``successCondition``). A new kind is a new module and one line in
``registry``. Readiness is no task here: the planner judges it from the pods
the watches deliver (``planning.infrarollout.smoke.judge_ready``) and never
asks for it to run, so it needs no loop of its own.
"""

from __future__ import annotations

from shakedown.api.infrarollout import CheckType
from shakedown.checks.base import Check, CheckContext, CheckOutcome
from shakedown.checks.http import HttpCheck
from shakedown.checks.job import JobCheck
from shakedown.checks.prometheus import PrometheusCheck

__all__ = ["Check", "CheckContext", "CheckOutcome", "registry"]


def registry() -> dict[CheckType, Check]:
    """Check implementations by check type (all but Ready, which the planner judges)."""
    return {
        CheckType.HTTP: HttpCheck(),
        CheckType.JOB: JobCheck(),
        CheckType.METRIC: PrometheusCheck(),
    }
