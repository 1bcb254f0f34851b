"""Copies of the workloads that carry the change beside production: canary and blue/green.

Both strategies run the change in a ``<name>-<role>`` copy of each workload
target (plus copies of the ConfigMaps/Secrets the change alters, so stable
pods keep the old configuration), judge the pods of those copies and delete
the copies on rollback and at the end. ``CopyStrategy`` holds that once; a
strategy adds its role and how it moves traffic onto the copies.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from shakedown.planning.infrarollout.actions import Action
from shakedown.planning.infrarollout.objects import (
    ROLE_LABEL,
    Meta,
    Obj,
    ObjKey,
    clean,
    config_payload,
    config_refs,
    pod_template,
    rename_config_refs,
)
from shakedown.planning.infrarollout.strategies.base import ShiftContext, delete_existing


class CopyStrategy:
    """Base of the strategies whose change runs in copies labelled ``shakedown.dev/role``."""

    role: ClassVar[str]
    """The copies' name suffix and ``shakedown.dev/role`` label: ``canary`` or ``green``."""

    def copy_of(
        self, ctx: ShiftContext, workload: ObjKey, replicas: int
    ) -> tuple[list[Obj], ObjKey]:
        """This strategy's copy of ``workload`` at ``replicas``, with its config copies."""
        return workload_copy(ctx, workload, self.role, replicas)

    def copies(self, ctx: ShiftContext) -> set[ObjKey]:
        return role_copies(ctx, self.role)

    def copy_pods(self, ctx: ShiftContext) -> list[Obj]:
        """The pods of this strategy's copies: the ones carrying the change beside production."""
        return [p for p in ctx.pods if Meta.of(p).labels.get(ROLE_LABEL) == self.role]

    def remove_copies(self, ctx: ShiftContext, why: str) -> list[Action]:
        return delete_existing(ctx, self.copies(ctx), why)


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
