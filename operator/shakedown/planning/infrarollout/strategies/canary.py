"""Canary by replicas: a copy carrying the change grows step by step as the stable shrinks.

For each workload target (a Deployment or StatefulSet) a ``<name>-canary`` copy with the
change runs ``ceil(replicas * weight / 100)`` pods while the stable one runs
the rest; both match the workload's Services, so traffic follows the replica
ratio. A pause step waits its duration or until ``shakedown.dev/promote``
changes. After the last step production takes the change in place, the
stable workload is back at its replicas and the canary is removed. Changed
ConfigMaps/Secrets get canary copies, so stable pods keep the old
configuration until the full promotion.
"""

from __future__ import annotations

import math
from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.planning.infrarollout.objects import ROLE_LABEL, Meta, Obj, ObjKey, replicas
from shakedown.planning.infrarollout.strategies.base import (
    ShiftContext,
    ShiftPlan,
    all_rolled_out,
    apply_objects,
    apply_targets,
)
from shakedown.planning.infrarollout.strategies.copies import CopyStrategy, scaled


def canary_replicas(total: int, weight: int) -> int:
    if weight <= 0:
        return 0
    return min(total, max(1, math.ceil(total * weight / 100)))


class CanaryStrategy(CopyStrategy):
    role = "canary"

    def validate(self, ctx: ShiftContext) -> str | None:
        others = [str(k) for k in ctx.workloads() if k.kind not in ("Deployment", "StatefulSet")]
        if others:
            return (
                "strategy Canary supports Deployment and StatefulSet targets, "
                f"not {', '.join(others)}"
            )
        return None

    def _steps(self, ctx: ShiftContext) -> list[tuple[int | None, float | None]]:
        canary = ctx.spec.strategy.canary
        steps = canary.steps if canary is not None else []
        return [(s.weight, parse_duration(s.pause) if s.pause else None) for s in steps]

    def shift(self, ctx: ShiftContext) -> ShiftPlan:
        steps = self._steps(ctx)
        index = ctx.status.current_step
        if index is None:
            return ShiftPlan(current_step=0, step_started_at=ctx.now, waiting_for="step 1")
        judged = tuple(self.copy_pods(ctx))
        if index >= len(steps):
            return self._promote(ctx)
        weight, pause = steps[index]
        advance = ShiftPlan(current_step=index + 1, step_started_at=ctx.now, judged_pods=judged)
        if pause is not None:
            if ctx.promote_requested:
                return ShiftPlan(
                    current_step=index + 1,
                    step_started_at=ctx.now,
                    handled_promote=True,
                    judged_pods=judged,
                )
            started = ctx.status.step_started_at or ctx.now
            until = started + timedelta(seconds=pause)
            if ctx.now >= until:
                return advance
            return ShiftPlan(wake_at=until, paused_until=until, judged_pods=judged)
        assert weight is not None
        actions = []
        copies = []
        stables = []
        for workload in ctx.workloads():
            snap = ctx.snapshot.get(workload)
            if snap is None:
                continue
            total = replicas(snap)
            count = canary_replicas(total, weight)
            objects, copy_key = self.copy_of(ctx, workload, count)
            actions += apply_objects(ctx, objects, f"canary step {index + 1}: weight {weight}")
            actions += apply_objects(ctx, [scaled(snap, total - count)], f"canary step {index + 1}")
            copies.append(copy_key)
            stables.append(workload)
        if actions:
            return ShiftPlan(tuple(actions), waiting_for=f"weight {weight}", judged_pods=judged)
        done, waiting = all_rolled_out(ctx, [*copies, *stables])
        if done:
            return advance
        return ShiftPlan(waiting_for=waiting, judged_pods=judged)

    def _promote(self, ctx: ShiftContext) -> ShiftPlan:
        judged = tuple(self.bake_pods(ctx)) + tuple(self.copy_pods(ctx))
        actions = apply_targets(ctx, ctx.targets, "canary: full promotion")
        if actions:
            return ShiftPlan(tuple(actions), waiting_for="full promotion", judged_pods=judged)
        done, waiting = all_rolled_out(ctx, ctx.workloads())
        if not done:
            return ShiftPlan(waiting_for=waiting, judged_pods=judged)
        deletes = self.remove_copies(ctx, "canary: promoted")
        if deletes:
            return ShiftPlan(tuple(deletes), waiting_for="removing the canary", judged_pods=judged)
        return ShiftPlan(done=True, judged_pods=judged)

    def finalize(self, ctx: ShiftContext) -> ShiftPlan:
        deletes = self.remove_copies(ctx, "canary: promoted")
        return ShiftPlan(tuple(deletes), done=not deletes)

    def modified(self, ctx: ShiftContext) -> set[ObjKey]:
        return set()

    def bake_pods(self, ctx: ShiftContext) -> list[Obj]:
        return [
            p
            for w in ctx.workloads()
            for p in ctx.pods_of(ctx.production.get(w))
            if Meta.of(p).labels.get(ROLE_LABEL) is None
        ]
