"""Shadow namespaces: create them labelled for cleanup, delete them, sweep expired ones.

A shadow namespace is cluster-scoped and cannot be owned by the namespaced
InfraRollout, so ownership is recorded in labels and an annotation
(``shakedown.dev/owner``: namespace/name/uid) and in ``shakedown.dev/expires-at``.
The rollout deletes its namespace when the revision ends, the finalizer when the
rollout is deleted, and ``sweep`` whatever outlived its TTL or its owner.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.workloads import Conflict, Kube
from shakedown.planning.infrarollout.confinement import QUOTA_KINDS
from shakedown.planning.infrarollout.objects import parse_time
from shakedown.planning.infrarollout.shadow import (
    EXPIRES_ANNOTATION,
    OWNER_ANNOTATION,
    SHADOW_LABEL,
)


def ensure_namespace(kube: Kube, manifest: Mapping[str, Any]) -> None:
    with contextlib.suppress(Conflict):
        kube.create("Namespace", None, manifest)


def confinement_of(kube: Kube, namespace: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """What a shadow of ``namespace`` copies: its labels, ResourceQuotas and LimitRanges."""
    ns = kube.get("Namespace", None, namespace) or {}
    labels = dict(ns.get("metadata", {}).get("labels") or {})
    return labels, [obj for kind in QUOTA_KINDS for obj in kube.list(kind, namespace)]


def delete_namespace(kube: Kube, name: str) -> bool:
    return kube.delete("Namespace", None, name)


def get_namespace(kube: Kube, name: str, *, cached: bool = False) -> dict[str, Any] | None:
    """The namespace; with ``cached``, as the shadow namespace cache last saw it, when it
    has listed (``adapters.watchcache``: for a caller to whom a stale answer is harmless)."""
    cache = kube.caches.namespaces if kube.caches is not None else None
    if cached and cache is not None and cache.synced:
        return cache.get(None, name)
    return kube.get("Namespace", None, name)


def list_shadow_namespaces(kube: Kube) -> list[dict[str, Any]]:
    return kube.list("Namespace", None, labels=f"{SHADOW_LABEL}=true")


def expired(namespace: Mapping[str, Any], now: datetime) -> bool:
    annotations = namespace.get("metadata", {}).get("annotations") or {}
    moment = parse_time(annotations.get(EXPIRES_ANNOTATION))
    return moment is not None and now >= moment


def orphaned(kube: Kube, namespace: Mapping[str, Any]) -> bool:
    """The InfraRollout that made it no longer exists (or is another with the same name)."""
    annotations = namespace.get("metadata", {}).get("annotations") or {}
    owner = str(annotations.get(OWNER_ANNOTATION, ""))
    parts = owner.split("/")
    if len(parts) != 3:
        return False
    ns, name, uid = parts
    try:
        rollout = kube.get("InfraRollout", ns, name)
    except ApiError as exc:
        if exc.status == 403:
            return False  # an operator scoped to other namespaces: not its to judge
        raise
    return rollout is None or rollout.get("metadata", {}).get("uid") != uid


def sweep(kube: Kube, now: datetime) -> list[str]:
    """Delete shadow namespaces past their TTL or without an owner; returns their names."""
    deleted = []
    for namespace in list_shadow_namespaces(kube):
        meta = namespace.get("metadata", {})
        if meta.get("deletionTimestamp"):
            continue
        if expired(namespace, now) or orphaned(kube, namespace):
            delete_namespace(kube, meta["name"])
            deleted.append(str(meta["name"]))
    return deleted
