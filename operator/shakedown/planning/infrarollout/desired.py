"""What production should look like for a revision: the snapshot with the change.

Built from the snapshot, never from live objects, so a revision always means the
same bytes however often the operator restarts. Workloads whose ConfigMaps or
Secrets the change touches get a hash of that configuration in their pod
template, which is what makes a configuration-only change roll the pods that
read it, in the shadow and in production alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shakedown.planning.infrarollout.change import ResolvedChange, apply_change
from shakedown.planning.infrarollout.objects import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_KINDS,
    WORKLOAD_KINDS,
    Obj,
    ObjKey,
    config_hash,
    config_payload,
    config_refs,
    set_template_annotation,
)

Objects = Mapping[ObjKey, Obj | None]


def desired_objects(
    snapshot: Objects, change: ResolvedChange, targets: Collection[ObjKey]
) -> dict[ObjKey, Obj | None]:
    """Every snapshotted object as the revision wants it (non-targets unchanged)."""
    desired: dict[ObjKey, Obj | None] = {}
    for key, obj in snapshot.items():
        desired[key] = apply_change(obj, key, change) if key in targets else obj
    for key in targets:
        if key not in desired:
            desired[key] = apply_change(None, key, change)
    for key, obj in desired.items():
        if obj is None or key.kind not in WORKLOAD_KINDS:
            continue
        refs = sorted(config_refs(obj))
        changed = [
            ref
            for ref in refs
            if ref.kind in CONFIG_KINDS
            and _payload(desired.get(ref)) != _payload(snapshot.get(ref))
        ]
        if changed:
            configs = [c for ref in refs if (c := desired.get(ref)) is not None]
            set_template_annotation(obj, CONFIG_HASH_ANNOTATION, config_hash(configs))
    return desired


def _payload(obj: Obj | None) -> Obj | None:
    return None if obj is None else config_payload(obj)
