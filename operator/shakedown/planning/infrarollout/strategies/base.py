"""The interface every shift strategy implements, and the helpers they share.

A strategy is pure: given the snapshot, the desired objects and what
production looks like now, it returns the next actions and whether it is
done. It says which pods carry the change (those are judged for rollback),
which copies it created (rollback deletes them) and which objects beyond the
targets it modified (rollback restores them).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus
from shakedown.planning.infrarollout.actions import Action, Apply, Delete
from shakedown.planning.infrarollout.objects import (
    ROLE_LABEL,
    WORKLOAD_KINDS,
    Meta,
    Obj,
    ObjKey,
    clean,
    config_payload,
    config_refs,
    is_applied,
    labels_match,
    pod_template,
    rename_config_refs,
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


def copy_name(name: str, role: str) -> str:
    suffix = f"-{role}"
    return name[: 253 - len(suffix)] + suffix


def changed_configs(ctx: ShiftContext, workload: ObjKey) -> list[ObjKey]:
    """Config targets of a workload whose content the change alters."""
    desired = ctx.desired.get(workload)
    if desired is None:
        return []
    out = []
    for ref in sorted(config_refs(desired)):
        if ref not in ctx.targets:
            continue
        new, old = ctx.desired.get(ref), ctx.snapshot.get(ref)
        if (new and config_payload(new)) != (old and config_payload(old)):
            out.append(ref)
    return out


def workload_copy(
    ctx: ShiftContext, workload: ObjKey, role: str, replicas: int
) -> tuple[list[Obj], ObjKey]:
    """A copy of a workload carrying the change, with its own selector and configuration.

    The copy's pods carry the workload's labels (so its Services route to them)
    plus ``shakedown.dev/role``; changed ConfigMaps/Secrets get copies of their
    own so the stable pods keep reading the old configuration.
    """
    desired = ctx.desired[workload]
    assert desired is not None
    objects: list[Obj] = []
    renames: dict[ObjKey, str] = {}
    for ref in changed_configs(ctx, workload):
        config = ctx.desired.get(ref)
        if config is None:
            continue
        config_copy = clean(config)
        config_copy["metadata"]["name"] = copy_name(ref.name, role)
        _label(config_copy, ctx, role)
        renames[ref] = config_copy["metadata"]["name"]
        objects.append(config_copy)
    obj = clean(desired)
    obj["metadata"]["name"] = copy_name(workload.name, role)
    obj["metadata"].pop("namespace", None)
    _label(obj, ctx, role)
    spec = obj.setdefault("spec", {})
    spec["replicas"] = replicas
    selector = spec.setdefault("selector", {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), ROLE_LABEL: role}
    template = pod_template(obj)
    assert template is not None
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), ROLE_LABEL: role}
    rename_config_refs(obj, renames)
    objects.append(obj)
    return objects, ObjKey.of(obj)


def _label(obj: Obj, ctx: ShiftContext, role: str) -> None:
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **ctx.who.labels(), ROLE_LABEL: role}
    meta["ownerReferences"] = [ctx.who.owner_reference()]


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


def scaled(obj: Obj, replicas: int) -> Obj:
    out = copy.deepcopy(obj)
    out.setdefault("spec", {})["replicas"] = replicas
    return out


def role_copies(ctx: ShiftContext, role: str) -> set[ObjKey]:
    keys: set[ObjKey] = set()
    for workload in ctx.workloads():
        if ctx.desired.get(workload) is None:
            continue
        keys.add(ObjKey(workload.kind, copy_name(workload.name, role)))
        for ref in changed_configs(ctx, workload):
            keys.add(ObjKey(ref.kind, copy_name(ref.name, role)))
    return keys


def as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(items)
