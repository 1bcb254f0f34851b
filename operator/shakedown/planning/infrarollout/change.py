"""Applying ``spec.change`` to an object: images, patches and full manifests.

The same function produces the shadow copies and the production objects, so
what is proven in the shadow is byte for byte what production receives. Patches
follow their RFCs (merge: RFC 7396, json: RFC 6902 by the ``jsonpatch``
library). A ``strategic`` patch is not computed here: its merge keys and list
strategies live in the API server's schemas (``volumeMounts`` merge by
``mountPath``, not ``name``), so the server computes it once, in a dry run
against the production object while the snapshot is taken, and what it changed
is stored with the snapshot as a JSON patch that is replayed here. That keeps
desired objects pure and the same bytes for the whole revision.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from shakedown.api.infrarollout import PatchType
from shakedown.planning.infrarollout.objects import WORKLOAD_KINDS, Obj, ObjKey, containers


class ChangeError(ValueError):
    """The change cannot be applied to an object (a bad path, a missing container)."""


@dataclass(frozen=True)
class ResolvedChange:
    """``spec.change`` with ``imageFrom`` resolved, as plain data."""

    images: tuple[tuple[str, str], ...] = ()
    """(container, image) pairs."""
    patches: tuple[tuple[ObjKey, PatchType, Any], ...] = ()
    """(target, type, patch) triples."""
    manifests: tuple[Obj, ...] = ()
    strategic: tuple[tuple[int, Any], ...] = ()
    """(index in ``patches``, JSON patch operations) of each strategic patch the API
    server previewed: the difference between the snapshot and its dry-run result."""

    def strategic_ops(self, index: int) -> Any:
        for i, ops in self.strategic:
            if i == index:
                return ops
        return None

    def manifest_for(self, key: ObjKey) -> Obj | None:
        for manifest in self.manifests:
            if ObjKey.of(manifest) == key:
                return manifest
        return None

    def touches(self, key: ObjKey) -> bool:
        if key.kind in WORKLOAD_KINDS and self.images:
            return True
        return self.manifest_for(key) is not None or any(t == key for t, _, _ in self.patches)

    def image_for(self, container: str) -> str | None:
        for name, image in self.images:
            if name == container:
                return image
        return None


def apply_change(obj: Mapping[str, Any] | None, key: ObjKey, change: ResolvedChange) -> Obj | None:
    """The object with the change applied (``None`` stays ``None`` unless a manifest creates it)."""
    manifest = change.manifest_for(key)
    if manifest is not None:
        out = copy.deepcopy(manifest)
        meta = out.setdefault("metadata", {})
        if obj is not None:
            old_meta = obj.get("metadata", {})
            meta.setdefault("labels", old_meta.get("labels"))
            meta.setdefault("annotations", old_meta.get("annotations"))
            meta = {k: v for k, v in meta.items() if v is not None}
            out["metadata"] = meta
        out.setdefault("apiVersion", _API_VERSIONS.get(key.kind, "v1"))
    elif obj is None:
        return None
    else:
        out = copy.deepcopy(dict(obj))
    if key.kind in WORKLOAD_KINDS:
        for container in containers(out):
            image = change.image_for(str(container.get("name")))
            if image is not None:
                container["image"] = image
    for index, (target, patch_type, patch) in enumerate(change.patches):
        if target != key:
            continue
        field = f"spec.change.patches[{index}].patch"
        try:
            if patch_type is PatchType.JSON:
                out = json_patch(out, patch)
            elif patch_type is PatchType.STRATEGIC:
                out = _strategic(out, change.strategic_ops(index), field)
            else:
                out = merge_patch(out, patch)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, ChangeError):
                raise
            raise ChangeError(f"{field} ({patch_type.value} patch of {key}): {exc}") from exc
        if not isinstance(out, dict):
            raise ChangeError(
                f"{field} ({patch_type.value} patch of {key}): the result is not an object"
            )
    meta = out.setdefault("metadata", {})
    meta["name"] = key.name
    out["kind"] = key.kind
    return out


_API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
}


def _strategic(obj: Obj, ops: Any, field: str) -> Obj:
    if ops is None:
        raise ChangeError(
            f"{field}: a strategic merge patch is computed by the API server against the "
            "production object when the snapshot is taken, and this revision has no such result"
        )
    try:
        out: Obj = json_patch(obj, ops)
    except ValueError as exc:
        raise ChangeError(
            f"{field}: the API server's result of this strategic merge patch no longer "
            f"applies after the changes before it ({exc})"
        ) from exc
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (a null removes; anything but an object replaces)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    return _merge_mapping(target, patch, merge_patch)


def _merge_mapping(target: Any, patch: Mapping[str, Any], merge: Callable[[Any, Any], Any]) -> Any:
    """The part both merges share: ``null`` deletes a key, other values ``merge`` into it."""
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch, by the ``jsonpatch`` library (the input is not modified)."""
    if not isinstance(operations, list):
        raise ValueError("a json patch is a list of operations")
    try:
        return jsonpatch.apply_patch(doc, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ValueError(str(exc)) from exc
