"""Applying ``spec.change`` to an object: images, patches and full manifests.

The same function produces the shadow copies and the production objects, so
what is proven in the shadow is byte for byte what production receives. Patches
follow their RFCs (merge: RFC 7386, json: RFC 6902); ``strategic`` merges lists
of named items (containers, env, volumes, ports) by name the way kubectl does
for the common cases, and otherwise behaves like a merge patch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    for target, patch_type, patch in change.patches:
        if target != key:
            continue
        try:
            if patch_type is PatchType.JSON:
                out = json_patch(out, patch)
            elif patch_type is PatchType.STRATEGIC:
                out = strategic_merge(out, patch)
            else:
                out = merge_patch(out, patch)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ChangeError(f"spec.change.patches for {key}: {exc}") from exc
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


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
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


_MERGE_KEYS = ("name", "containerPort", "mountPath", "port", "ip")


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge for the common cases: lists of dicts merge by their name-like key."""
    if isinstance(patch, Mapping):
        return _merge_mapping(target, patch, strategic_merge)
    if isinstance(patch, list) and isinstance(target, list) and patch and target:
        merge_key = _merge_key(patch, target)
        if merge_key is not None:
            merged = [copy.deepcopy(item) for item in target]
            for item in patch:
                if item.get("$patch") == "delete":
                    merged = [m for m in merged if m.get(merge_key) != item.get(merge_key)]
                    continue
                for index, existing in enumerate(merged):
                    if existing.get(merge_key) == item.get(merge_key):
                        merged[index] = strategic_merge(existing, item)
                        break
                else:
                    merged.append(copy.deepcopy(item))
            return merged
    return copy.deepcopy(patch)


def _merge_key(patch: Sequence[Any], target: Sequence[Any]) -> str | None:
    if not all(isinstance(i, Mapping) for i in [*patch, *target]):
        return None
    for key in _MERGE_KEYS:
        if all(key in i for i in patch) and all(key in i for i in target):
            return key
    return None


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise ValueError("a json patch is a list of operations")
    result = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise ValueError(f"invalid json patch operation {op!r}")
        parts = _pointer(str(op["path"]))
        kind = op["op"]
        if kind == "test":
            if _get(result, parts) != op.get("value"):
                raise ValueError(f"test failed at {op['path']}")
            continue
        if kind in ("move", "copy"):
            source = _pointer(str(op["from"]))
            value = copy.deepcopy(_get(result, source))
            if kind == "move":
                result = _remove(result, source)
            result = _add(result, parts, value)
        elif kind == "remove":
            result = _remove(result, parts)
        elif kind == "replace":
            _get(result, parts)  # must exist
            result = _remove(result, parts)
            result = _add(result, parts, copy.deepcopy(op.get("value")))
        elif kind == "add":
            result = _add(result, parts, copy.deepcopy(op.get("value")))
        else:
            raise ValueError(f"unknown json patch op {kind!r}")
    return result


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return None
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    else:
        del parent[parts[-1]]
    return doc
