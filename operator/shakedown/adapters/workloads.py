"""Read what the InfraRollout validation needs from the workload targets.

Only the container names: which containers the targets have, so a spec that
changes the image of a container no target has is reported with its field path.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Unpack

from shakedown.adapters.apiserver import ApiError, Connection, Options
from shakedown.adapters.jobwatch import JobWatch
from shakedown.adapters.watchcache import Caches, may_list_everywhere
from shakedown.api.infrarollout import Target, TargetKind
from shakedown.planning.infrarollout.actions import (
    AcquireLock,
    PruneJobs,
    ReleaseLock,
    StoreSnapshot,
)
from shakedown.planning.infrarollout.job_pruning import prunable, selector
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.serverside import (
    FIELD_MANAGER,
    apply_configuration,
    taken_over,
)
from shakedown.planning.infrarollout.strategic import StrategicPreview

_WORKLOADS = {
    TargetKind.DEPLOYMENT: "Deployment",
    TargetKind.STATEFUL_SET: "StatefulSet",
    TargetKind.DAEMON_SET: "DaemonSet",
}


def container_names(
    kube: Kube, namespace: str, targets: Iterable[Target]
) -> Mapping[tuple[TargetKind, str], frozenset[str]]:
    """Workload target -> its container names; targets that do not exist are left out."""
    found: dict[tuple[TargetKind, str], frozenset[str]] = {}
    for target in targets:
        kind = _WORKLOADS.get(target.kind)
        obj = kube.get(kind, namespace, target.name) if kind else None
        if obj is None:
            continue
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        names = {str(c.get("name")) for c in pod_spec.get("containers") or []}
        names |= {str(c.get("name")) for c in pod_spec.get("initContainers") or []}
        found[(target.kind, target.name)] = frozenset(names)
    return found


# --------------------------------------------------------------------------- InfraRollout I/O
# Everything below carries out the InfraRollout planner's actions on production
# objects: plain JSON in and out (the objects are snapshotted and restored
# byte for byte, so no typed models in between), each call idempotent.

_RESOURCES: dict[str, tuple[str, str, bool]] = {
    # kind: (API prefix, plural, namespaced)
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Service": ("/api/v1", "services", True),
    "Pod": ("/api/v1", "pods", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Event": ("/api/v1", "events", True),
    "Namespace": ("/api/v1", "namespaces", False),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
    "ResourceQuota": ("/api/v1", "resourcequotas", True),
    "LimitRange": ("/api/v1", "limitranges", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "InfraRollout": ("/apis/shakedown.dev/v1alpha1", "infrarollouts", True),
    "ContainerImageRefresh": ("/apis/shakedown.dev/v1alpha1", "containerimagerefreshes", True),
    "MetricTemplate": ("/apis/shakedown.dev/v1alpha1", "metrictemplates", True),
}

_API_VERSION = {kind: prefix.split("/", 2)[-1] for kind, (prefix, _, _) in _RESOURCES.items()}
_API_VERSION.update({k: "v1" for k, (p, _, _) in _RESOURCES.items() if p == "/api/v1"})


def api_version(kind: str) -> str:
    return _API_VERSION[kind]


class Conflict(Exception):
    """The object exists already, or changed under us (HTTP 409)."""


class Kube:
    """A small JSON client for any kind above, over the operator's own connection
    (``adapters.apiserver``; ``kubeclient.connection`` makes one from a library client)."""

    def __init__(self, conn: Connection, caches: Caches | None = None) -> None:
        self.conn = conn
        self.caches = caches
        """The watch-fed caches of what shakedown labels, when the operator runs them."""

    @functools.cached_property
    def job_news(self) -> JobWatch:
        """The one watch waiting Job checks share (``adapters.jobwatch``), made when first asked."""
        conn = self.conn
        return JobWatch(conn, lambda: may_list_everywhere(conn, "batch", "jobs"))

    def path(self, kind: str, namespace: str | None, name: str | None = None) -> str:
        prefix, plural, namespaced = _RESOURCES[kind]
        path = prefix
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        if name:
            path += f"/{name}"
        return path

    def call(self, method: str, path: str, **options: Unpack[Options]) -> Any:
        try:
            return self.conn.call(method, path, **options)
        except ApiError as exc:
            if exc.status == 409:
                raise Conflict(f"{method} {path}: {exc.reason}") from None
            raise

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.call("GET", self.path(kind, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return _with_kind(result, kind)

    def list(
        self, kind: str, namespace: str | None, *, labels: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": labels} if labels else None
        try:
            result = self.call("GET", self.path(kind, namespace), query=query)
        except ApiError as exc:
            if exc.status == 404:
                return []
            raise
        return [_with_kind(item, kind) for item in result.get("items") or []]

    def create(self, kind: str, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": api_version(kind), "kind": kind, **obj}
        result: dict[str, Any] = self.call("POST", self.path(kind, namespace), body=body)
        return result

    def replace(self, kind: str, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        body = {"apiVersion": api_version(kind), "kind": kind, **obj}
        result: dict[str, Any] = self.call("PUT", self.path(kind, namespace, name), body=body)
        return result

    def merge_patch(
        self, kind: str, namespace: str | None, name: str, patch: Any, *, subresource: str = ""
    ) -> dict[str, Any]:
        path = self.path(kind, namespace, name) + (f"/{subresource}" if subresource else "")
        result: dict[str, Any] = self.call(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
        return result

    def apply(
        self, kind: str, namespace: str | None, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Server-side apply under shakedown's field manager, forced."""
        result: dict[str, Any] = self.call(
            "PATCH",
            self.path(kind, namespace, name),
            body=json.dumps(dict(body)),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        return result

    def delete(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone."""
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.call("DELETE", self.path(kind, namespace, name), body=body)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _with_kind(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    obj.setdefault("kind", kind)
    obj.setdefault("apiVersion", api_version(kind))
    return obj


def apply_object(kube: Kube, namespace: str, desired: Mapping[str, Any]) -> dict[str, Any]:
    """Make the object equal ``desired`` with server-side apply under ``shakedown``.

    Forced: production is what the revision says, whoever wrote a field last.
    Before the first apply the fields clients wrote are taken over (see
    ``planning.infrarollout.serverside``), so fields the revision leaves out
    are removed as a replace would. Applying unchanged content is a no-op on
    the API server (no new resourceVersion), which makes repeating it harmless.
    """
    kind = str(desired["kind"])
    name = str(desired["metadata"]["name"])
    body = apply_configuration(desired, namespace)
    body.setdefault("apiVersion", api_version(kind))
    for _ in range(5):
        current = kube.get(kind, namespace, name)
        if current is not None:
            if kind == "Service":
                _keep_allocated(body, current)
            try:
                _take_over(kube, namespace, current)
            except Conflict:
                continue
        return kube.apply(kind, namespace, name, body)
    raise Conflict(f"{kind}/{name} in {namespace} keeps changing; giving up for now")


def _take_over(kube: Kube, namespace: str, current: Mapping[str, Any]) -> None:
    meta = current.get("metadata", {})
    managed = taken_over(meta.get("managedFields") or [])
    if managed is None:
        return
    patch = {"metadata": {"managedFields": managed, "resourceVersion": meta["resourceVersion"]}}
    kube.merge_patch(str(current["kind"]), namespace, str(meta["name"]), patch)


def _keep_allocated(body: dict[str, Any], current: Mapping[str, Any]) -> None:
    spec = body.setdefault("spec", {})
    live = current.get("spec", {})
    for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if field not in spec and field in live:
            spec[field] = live[field]


def preview_strategic(
    kube: Kube, namespace: str, patches: Sequence[tuple[int, ObjKey, Any]]
) -> dict[int, StrategicPreview]:
    """The API server's result of each strategic patch on the live object, changing nothing.

    A ``dryRun=All`` PATCH runs the real merge (the schemas' merge keys and list
    strategies), defaulting and admission, and persists nothing. A patch the
    server refuses (400, 422) is reported for the planner to name the field; a
    missing object gets no preview (the planner says why it cannot have one).
    """
    previews: dict[int, StrategicPreview] = {}
    for index, key, patch in patches:
        try:
            result = kube.call(
                "PATCH",
                kube.path(key.kind, namespace, key.name),
                body=patch,
                query={"dryRun": "All", "fieldManager": "shakedown-preview"},
                content_type="application/strategic-merge-patch+json",
            )
        except ApiError as exc:
            if exc.status == 404:
                continue
            if exc.status in (400, 415, 422):
                previews[index] = StrategicPreview(error=str(exc.reason))
                continue
            raise
        previews[index] = StrategicPreview(result=_with_kind(result, key.kind))
    return previews


def delete_object(kube: Kube, namespace: str, kind: str, name: str) -> bool:
    return kube.delete(kind, namespace, name)


def store_snapshot(kube: Kube, namespace: str, snapshot: StoreSnapshot) -> None:
    """Create the snapshot Secret; when it exists already it is kept as it is."""
    body = {
        "metadata": {
            "name": snapshot.name,
            "labels": dict(snapshot.labels),
            "ownerReferences": [dict(snapshot.owner)],
        },
        "type": "shakedown.dev/snapshot",
        "data": dict(snapshot.data),
    }
    with contextlib.suppress(Conflict):
        kube.create("Secret", namespace, body)


def load_snapshot(
    kube: Kube, namespace: str, name: str, *, owner_uid: str | None = None
) -> Mapping[str, str] | None:
    """The snapshot's data; None when absent.

    A snapshot left by an earlier InfraRollout of the same name (deleted and
    created again before garbage collection ran) is not this rollout's: it is
    deleted, so the next round takes a fresh one.
    """
    secret = kube.get("Secret", namespace, name)
    if secret is None:
        return None
    owners = [o.get("uid") for o in secret.get("metadata", {}).get("ownerReferences") or []]
    if owner_uid is not None and owner_uid not in owners:
        kube.delete("Secret", namespace, name, uid=secret["metadata"].get("uid"))
        return None
    data: Mapping[str, str] = secret.get("data") or {}
    return data


def lease_holder(kube: Kube, namespace: str, lease: str, *, cached: bool = False) -> str | None:
    """Who holds the lock ``lease``; with ``cached``, as the Lease cache last saw it, when
    it has listed (``adapters.watchcache``: for a caller to whom a stale answer is harmless)."""
    cache = kube.caches.leases if kube.caches is not None else None
    if cached and cache is not None and cache.synced:
        obj = cache.get(namespace, lease)
    else:
        obj = kube.get("Lease", namespace, lease)
    if obj is None or obj.get("metadata", {}).get("deletionTimestamp"):
        return None
    holder = obj.get("spec", {}).get("holderIdentity")
    return str(holder) if holder else None


def acquire_lease(kube: Kube, namespace: str, lock: AcquireLock) -> bool:
    body = {
        "metadata": {
            "name": lock.lease,
            "labels": {"app.kubernetes.io/managed-by": "shakedown"},
            "annotations": {"shakedown.dev/locks": str(lock.key)},
            "ownerReferences": [dict(lock.owner)],
        },
        "spec": {"holderIdentity": lock.holder},
    }
    try:
        kube.create("Lease", namespace, body)
    except Conflict:
        return lease_holder(kube, namespace, lock.lease) == lock.holder
    return True


def release_lease(kube: Kube, namespace: str, lock: ReleaseLock) -> None:
    obj = kube.get("Lease", namespace, lock.lease)
    if obj is None or obj.get("spec", {}).get("holderIdentity") != lock.holder:
        return
    with contextlib.suppress(Conflict):
        kube.delete("Lease", namespace, lock.lease, uid=obj["metadata"]["uid"])


def prune_jobs(kube: Kube, action: PruneJobs) -> list[str]:
    """Delete the rollout's check Jobs ``job_pruning.prunable`` picks, their pods with them
    (Background); the names deleted. One gone already is fine; one whose name now
    belongs to another Job (the uid precondition fails) is not ours, and stays."""
    jobs = kube.list("Job", action.namespace, labels=selector(action))
    deleted = []
    for job in prunable(jobs, action):
        try:
            if kube.delete("Job", action.namespace, job.name, uid=job.uid):
                deleted.append(job.name)
        except Conflict:
            continue
    return deleted
