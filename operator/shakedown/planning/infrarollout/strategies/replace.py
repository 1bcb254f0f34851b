"""Replace: every target takes the change at once; workloads roll as they are configured.

Configuration first (Secrets, ConfigMaps, Services), then the workloads, whose
pod templates carry the configuration hash, so their pods roll even when only
a ConfigMap changed. Done when every workload reports its rollout complete.
"""

from __future__ import annotations

from shakedown.planning.infrarollout.objects import Obj, ObjKey
from shakedown.planning.infrarollout.strategies.base import (
    ShiftContext,
    ShiftPlan,
    all_rolled_out,
    apply_targets,
)


class ReplaceStrategy:
    def validate(self, ctx: ShiftContext) -> str | None:
        return None

    def shift(self, ctx: ShiftContext) -> ShiftPlan:
        actions = apply_targets(ctx, ctx.targets, "shift")
        pods = tuple(p for w in ctx.workloads() for p in ctx.pods_of(ctx.production.get(w)))
        if actions:
            return ShiftPlan(tuple(actions), waiting_for="applying the change", judged_pods=pods)
        done, waiting = all_rolled_out(ctx, ctx.workloads())
        return ShiftPlan(done=done, waiting_for=waiting, judged_pods=pods)

    def finalize(self, ctx: ShiftContext) -> ShiftPlan:
        return ShiftPlan(done=True)

    def modified(self, ctx: ShiftContext) -> set[ObjKey]:
        return set()

    def copies(self, ctx: ShiftContext) -> set[ObjKey]:
        return set()

    def bake_pods(self, ctx: ShiftContext) -> list[Obj]:
        return [p for w in ctx.workloads() for p in ctx.pods_of(ctx.production.get(w))]
