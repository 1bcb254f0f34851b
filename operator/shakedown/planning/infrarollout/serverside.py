"""Server-side apply: what shakedown sends to production and which fields it owns.

Production objects are written with server-side apply under the field manager
``shakedown``, so ``metadata.managedFields`` says who wrote what: a GitOps tool
that holds only the InfraRollout sees shakedown, not itself, as the owner of the
Deployment, and a person reading the object sees the same.

Apply has merge semantics: a field that the applied configuration leaves out is
removed only when shakedown alone owns it. A revision means "the object is
exactly this", as a replace did before (a patch that removes an env var, a
rollback to a snapshot without the new one), so before its first apply
shakedown takes over the main-resource fields that clients wrote (kubectl,
scripts, an earlier shakedown). Fields that the cluster's own controllers keep
(``kube-controller-manager`` and friends) and status subresources stay theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shakedown.planning.infrarollout.objects import SERVER_SET_METADATA, Obj, stripped

FIELD_MANAGER = "shakedown"

#: Annotations controllers keep up to date; applying an old value would fight them.
_CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)
#: Managers that are the cluster's own controllers, never taken over.
_CONTROLLER_PREFIXES = ("kube-", "k3s", "cloud-controller")


def apply_configuration(desired: Mapping[str, Any], namespace: str) -> Obj:
    """The body of the apply request: ``desired`` without what the server owns."""
    out = stripped(desired, metadata=SERVER_SET_METADATA, annotations=_CONTROLLER_ANNOTATIONS)
    out["metadata"]["namespace"] = namespace
    return out


def _is_taken_over(entry: Mapping[str, Any]) -> bool:
    manager = str(entry.get("manager", ""))
    if manager == FIELD_MANAGER and entry.get("operation") == "Apply":
        return False
    if entry.get("subresource"):
        return False
    return not manager.startswith(_CONTROLLER_PREFIXES)


def merge_fields(sets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The union of ``fieldsV1`` sets (each a trie of ``f:``/``k:``/``v:`` keys)."""
    merged: dict[str, Any] = {}
    for fields in sets:
        for key, value in fields.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge_fields([merged[key], value])
            elif isinstance(value, Mapping):
                merged[key] = merge_fields([value])
            else:
                merged.setdefault(key, value)
    return merged


def taken_over(managed_fields: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """``managedFields`` with the clients' main-resource fields moved to shakedown's apply.

    None when there is nothing to take over (no write is needed then).
    """
    entries = [dict(e) for e in managed_fields]
    moved = [e for e in entries if _is_taken_over(e)]
    if not moved:
        return None
    ours = [
        e for e in entries if e.get("manager") == FIELD_MANAGER and e.get("operation") == "Apply"
    ]
    sets = [e.get("fieldsV1") or {} for e in [*ours, *moved]]
    api_version = (ours or moved)[0].get("apiVersion", "")
    owner = {
        "manager": FIELD_MANAGER,
        "operation": "Apply",
        "apiVersion": api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": merge_fields(sets),
    }
    if moved[-1].get("time"):
        owner["time"] = moved[-1]["time"]
    kept = [e for e in entries if e not in moved and e not in ours]
    return [owner, *kept]
