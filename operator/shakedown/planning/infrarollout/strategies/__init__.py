"""Phase 4, Shift: one module per strategy, all behind ``ShiftStrategy``.

Adding a strategy means adding a module here and a line in ``for_type``;
nothing else in the planner changes.
"""

from __future__ import annotations

from shakedown.api.infrarollout import StrategyType
from shakedown.planning.infrarollout.strategies.base import ShiftContext, ShiftPlan, ShiftStrategy
from shakedown.planning.infrarollout.strategies.bluegreen import BlueGreenStrategy
from shakedown.planning.infrarollout.strategies.canary import CanaryStrategy
from shakedown.planning.infrarollout.strategies.replace import ReplaceStrategy

__all__ = ["ShiftContext", "ShiftPlan", "ShiftStrategy", "for_type"]


def for_type(kind: StrategyType) -> ShiftStrategy:
    if kind is StrategyType.CANARY:
        return CanaryStrategy()
    if kind is StrategyType.BLUE_GREEN:
        return BlueGreenStrategy()
    return ReplaceStrategy()
