"""Phase 6, Rollback: every target back to the snapshot, configuration first.

Restores the targets (and whatever the strategy modified, e.g. a Service
selector) from the stored snapshot, deletes the strategy's copies and any
target that did not exist before, then waits until production's workloads
report their rollout complete. Restoring the old pod template brings back the
old ReplicaSet, and because ConfigMaps and Secrets are restored before the
workloads, the pods that come back read the old configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from shakedown.planning.infrarollout.actions import Action, Apply, Delete
from shakedown.planning.infrarollout.objects import is_applied, with_applied_annotation
from shakedown.planning.infrarollout.shadow import apply_order
from shakedown.planning.infrarollout.strategies.base import (
    ShiftContext,
    ShiftStrategy,
    all_rolled_out,
)


@dataclass(frozen=True)
class RollbackPlan:
    actions: tuple[Action, ...]
    done: bool
    waiting_for: str


def plan_rollback(ctx: ShiftContext, strategy: ShiftStrategy) -> RollbackPlan:
    actions: list[Action] = []
    restore = sorted(set(ctx.targets) | strategy.modified(ctx), key=apply_order)
    for key in restore:
        if key not in ctx.snapshot:
            continue
        before = ctx.snapshot[key]
        now = ctx.production.get(key)
        if before is None:
            if now is not None:
                actions.append(Delete(ctx.namespace, key, "rollback: did not exist before"))
        elif not is_applied(before, now):
            actions.append(Apply(ctx.namespace, with_applied_annotation(before), "rollback"))
    for key in sorted(strategy.copies(ctx)):
        if ctx.production.get(key) is not None:
            actions.append(Delete(ctx.namespace, key, "rollback: remove copy"))
    if actions:
        return RollbackPlan(tuple(actions), False, "restoring the snapshot")
    done, waiting = all_rolled_out(ctx, [k for k in ctx.workloads() if ctx.snapshot.get(k)])
    return RollbackPlan((), done, waiting or "production healthy")
