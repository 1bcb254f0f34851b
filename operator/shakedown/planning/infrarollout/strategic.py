"""Strategic merge patches, as the API server computes them.

Only the API server knows each list's merge key and strategy (``volumeMounts``
merge by ``mountPath``, ``env`` by ``name``, ``args`` replace), so the adapters
ask it: a ``dryRun=All`` PATCH of the production object, once, while the
snapshot is taken. What the dry run changed becomes JSON patch operations on
the snapshotted object, stored with the snapshot, so every later round (and a
restarted operator) replays the same result without asking again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch

from shakedown.api.infrarollout import InfraRolloutSpec, PatchType
from shakedown.planning.infrarollout.change import ResolvedChange
from shakedown.planning.infrarollout.objects import Obj, ObjKey, content


@dataclass(frozen=True)
class StrategicPreview:
    """The API server's dry-run result of one strategic patch, or why it refused it."""

    result: Obj | None = None
    error: str | None = None


def strategic_patches(spec: InfraRolloutSpec) -> list[tuple[int, ObjKey, Any]]:
    """(index in ``spec.change.patches``, target, patch) of each strategic patch."""
    return [
        (index, ObjKey(str(p.target.kind), p.target.name), p.patch)
        for index, p in enumerate(spec.change.patches)
        if p.type is PatchType.STRATEGIC
    ]


def resolve_strategic(
    spec: InfraRolloutSpec,
    change: ResolvedChange,
    production: Mapping[ObjKey, Obj | None],
    previews: Mapping[int, StrategicPreview],
) -> tuple[dict[int, Any], str | None]:
    """The operations of each strategic patch, or the first reason one has none."""
    resolved: dict[int, Any] = {}
    for index, key, _ in strategic_patches(spec):
        field = f"spec.change.patches[{index}]"
        live = production.get(key)
        if change.manifest_for(key) is not None:
            return {}, (
                f"{field}: {key} is replaced by spec.change.manifests, and a strategic merge "
                "patch can only be computed by the API server against the object that exists; "
                "put the change into the manifest instead"
            )
        if live is None:
            return {}, (
                f"{field}: {key} does not exist yet, and a strategic merge patch can only be "
                "computed by the API server (a dry run) against an existing object; use a "
                "merge or json patch, or create it with spec.change.manifests"
            )
        preview = previews.get(index)
        if preview is None or preview.result is None:
            why = preview.error if preview is not None else "no dry-run result"
            return {}, f"{field}.patch: the API server refused this strategic patch of {key}: {why}"
        ops = jsonpatch.make_patch(content(live), content(preview.result)).patch
        resolved[index] = ops
    return resolved, None
