"""Blue/green: a full green copy with the change, then the Service selector switch.

Green (``<name>-green``) runs at the workload's replica count; once it is
rolled out the Service's selector gains ``shakedown.dev/role: green`` and
traffic moves at once. Blue keeps running, untouched, until the bake ends: a
rollback is the selector restored and green removed. After a good bake the
change is applied to blue in place, the selector is restored (now pointing at
the updated blue pods) and green is removed, so production ends with its own
objects carrying the change.
"""

from __future__ import annotations

import copy

from shakedown.planning.infrarollout.objects import (
    ROLE_LABEL,
    Obj,
    ObjKey,
    replicas,
    service_selects,
)
from shakedown.planning.infrarollout.strategies.base import (
    ShiftContext,
    ShiftPlan,
    all_rolled_out,
    apply_objects,
    apply_targets,
)
from shakedown.planning.infrarollout.strategies.copies import CopyStrategy


class BlueGreenStrategy(CopyStrategy):
    role = "green"

    def service_key(self, ctx: ShiftContext) -> ObjKey | None:
        config = ctx.spec.strategy.blue_green
        if config is not None and config.service:
            return ObjKey("Service", config.service)
        service_targets = [k for k in ctx.targets if k.kind == "Service"]
        if len(service_targets) == 1:
            return service_targets[0]
        candidates = sorted(
            key
            for key, obj in ctx.snapshot.items()
            if key.kind == "Service"
            and obj is not None
            and any(
                (w := ctx.snapshot.get(t)) is not None and service_selects(obj, w)
                for t in ctx.workloads()
            )
        )
        return candidates[0] if len(candidates) == 1 else None

    def validate(self, ctx: ShiftContext) -> str | None:
        key = self.service_key(ctx)
        if key is None:
            return (
                "strategy BlueGreen needs one Service selecting the workload: "
                "set strategy.blueGreen.service"
            )
        if ctx.snapshot.get(key) is None:
            return f"strategy.blueGreen.service: {key} not found"
        return None

    def _switched_service(self, ctx: ShiftContext) -> Obj:
        key = self.service_key(ctx)
        assert key is not None
        base = ctx.desired.get(key) or ctx.snapshot.get(key)
        assert base is not None
        service = copy.deepcopy(base)
        selector = service.setdefault("spec", {}).setdefault("selector", {})
        selector[ROLE_LABEL] = self.role
        return service

    def shift(self, ctx: ShiftContext) -> ShiftPlan:
        greens: list[ObjKey] = []
        actions = []
        for workload in ctx.workloads():
            snap = ctx.snapshot.get(workload)
            if snap is None:
                continue
            objects, key = self.copy_of(ctx, workload, replicas(snap))
            actions += apply_objects(ctx, objects, "blue/green: green copy")
            greens.append(key)
        judged = tuple(self.copy_pods(ctx))
        if actions:
            return ShiftPlan(tuple(actions), waiting_for="creating green", judged_pods=judged)
        done, waiting = all_rolled_out(ctx, greens)
        if not done:
            return ShiftPlan(waiting_for=waiting, judged_pods=judged)
        switch = apply_objects(ctx, [self._switched_service(ctx)], "blue/green: switch to green")
        if switch:
            return ShiftPlan(tuple(switch), waiting_for="switching the Service", judged_pods=judged)
        return ShiftPlan(done=True, judged_pods=judged)

    def finalize(self, ctx: ShiftContext) -> ShiftPlan:
        judged = tuple(self.copy_pods(ctx))
        actions = apply_targets(
            ctx, [k for k in ctx.targets if k != self.service_key(ctx)], "blue/green: promote blue"
        )
        if actions:
            return ShiftPlan(tuple(actions), waiting_for="updating blue", judged_pods=judged)
        done, waiting = all_rolled_out(ctx, ctx.workloads())
        if not done:
            return ShiftPlan(waiting_for=waiting, judged_pods=judged)
        key = self.service_key(ctx)
        assert key is not None
        service = ctx.desired.get(key) or ctx.snapshot.get(key)
        assert service is not None
        restore = apply_objects(ctx, [service], "blue/green: selector back to blue")
        if restore:
            return ShiftPlan(tuple(restore), waiting_for="switching back to blue")
        deletes = self.remove_copies(ctx, "blue/green: green retired")
        return ShiftPlan(tuple(deletes), done=not deletes, waiting_for="removing green")

    def modified(self, ctx: ShiftContext) -> set[ObjKey]:
        key = self.service_key(ctx)
        return {key} if key is not None else set()

    def bake_pods(self, ctx: ShiftContext) -> list[Obj]:
        return self.copy_pods(ctx)
