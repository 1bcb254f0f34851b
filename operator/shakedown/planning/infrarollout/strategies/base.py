"""The interface every shift strategy implements, and the helpers they all share.

A strategy is pure: given the snapshot, the desired objects and what
production looks like now, it returns the next actions and whether it is
done. It says which pods carry the change (those are judged for rollback),
which copies it created (rollback deletes them) and which objects beyond the
targets it modified (rollback restores them). The copies canary and
blue/green run beside production are made in ``copies``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus
from shakedown.planning.infrarollout.actions import Action, Apply, Delete
from shakedown.planning.infrarollout.objects import (
    WORKLOAD_KINDS,
    Meta,
    Obj,
    ObjKey,
    is_applied,
    labels_match,
    selector_labels,
    with_applied_annotation,
)
from shakedown.planning.infrarollout.progress import rollout_progress
from shakedown.planning.infrarollout.shadow import RolloutIdentity, apply_order


@dataclass(frozen=True)
class ShiftContext:
    who: RolloutIdentity
    spec: InfraRolloutSpec
    status: InfraRolloutStatus
    targets: tuple[ObjKey, ...]
    snapshot: Mapping[ObjKey, Obj | None]
    desired: Mapping[ObjKey, Obj | None]
    production: Mapping[ObjKey, Obj | None]
    """Observed objects: targets, dependencies and the strategy's copies."""
    pods: Sequence[Obj]
    now: datetime
    promote_requested: bool = False

    @property
    def namespace(self) -> str:
        return self.who.namespace

    def workloads(self) -> list[ObjKey]:
        return [k for k in self.targets if k.kind in WORKLOAD_KINDS]

    def pods_of(self, workload: Obj | None) -> list[Obj]:
        if workload is None:
            return []
        selector = selector_labels(workload)
        return [p for p in self.pods if labels_match(selector, Meta.of(p).labels)]


@dataclass(frozen=True)
class ShiftPlan:
    actions: tuple[Action, ...] = ()
    done: bool = False
    waiting_for: str = ""
    current_step: int | None = None
    step_started_at: datetime | None = None
    handled_promote: bool = False
    wake_at: datetime | None = None
    paused_until: datetime | None = None
    """Set while a pause step waits: for this time, or for shakedown.dev/promote."""
    judged_pods: tuple[Obj, ...] = field(default_factory=tuple)


class ShiftStrategy(Protocol):
    def validate(self, ctx: ShiftContext) -> str | None:
        """Why this strategy cannot shift these targets (None: it can)."""

    def shift(self, ctx: ShiftContext) -> ShiftPlan:
        """Next actions to move production to the change."""

    def finalize(self, ctx: ShiftContext) -> ShiftPlan:
        """After a good bake: make the change permanent and remove copies."""

    def modified(self, ctx: ShiftContext) -> set[ObjKey]:
        """Objects beyond the targets this strategy changes (restored on rollback)."""

    def copies(self, ctx: ShiftContext) -> set[ObjKey]:
        """Objects this strategy creates (deleted on rollback and at the end)."""

    def bake_pods(self, ctx: ShiftContext) -> list[Obj]:
        """Production pods carrying the change, judged during the bake."""


# --------------------------------------------------------------------------- helpers
def apply_targets(ctx: ShiftContext, keys: Iterable[ObjKey], why: str) -> list[Action]:
    """Apply the desired state of these targets wherever production differs."""
    actions: list[Action] = []
    for key in sorted(keys, key=apply_order):
        desired = ctx.desired.get(key)
        if desired is None:
            continue
        if not is_applied(desired, ctx.production.get(key)):
            actions.append(Apply(ctx.namespace, with_applied_annotation(desired), why))
    return actions


def all_rolled_out(ctx: ShiftContext, keys: Iterable[ObjKey]) -> tuple[bool, str]:
    waiting = []
    for key in keys:
        progress = rollout_progress(ctx.production.get(key))
        if not progress.done:
            waiting.append(progress.message)
    return (not waiting, "; ".join(waiting))


def apply_objects(ctx: ShiftContext, objects: Iterable[Obj], why: str) -> list[Action]:
    actions: list[Action] = []
    for obj in sorted(objects, key=lambda o: apply_order(ObjKey.of(o))):
        if not is_applied(obj, ctx.production.get(ObjKey.of(obj))):
            actions.append(Apply(ctx.namespace, with_applied_annotation(obj), why))
    return actions


def delete_existing(ctx: ShiftContext, keys: Iterable[ObjKey], why: str) -> list[Action]:
    return [
        Delete(ctx.namespace, k, why) for k in sorted(keys) if ctx.production.get(k) is not None
    ]


def as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(items)
