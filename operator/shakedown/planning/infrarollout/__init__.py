"""The InfraRollout planner: pure decisions, one module per phase or strategy.

``plan.plan`` is the entry point: ``(spec, status, observed, now) -> Decision``.
"""

from __future__ import annotations

from shakedown.planning.infrarollout.plan import Decision, Observed, plan

__all__ = ["Decision", "Observed", "plan"]
