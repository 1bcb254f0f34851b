"""What confines a shadow namespace: Pod Security labels, ResourceQuotas, LimitRanges.

A shadow runs the changed copy of production, written by whoever may create an
InfraRollout. Without the production namespace's admission rules it would be
a way around them: a patch to ``privileged: true`` would be refused in
production but run in the shadow. So the shadow gets the same rules, never
weaker:

- Pod Security (``pod-security.kubernetes.io/<mode>`` and ``<mode>-version``):
  production's labels are copied. For each of enforce, audit and warn, a level
  below ``FLOOR_LEVEL`` is raised to it when production sets no level at all
  (an unlabelled namespace gets the cluster's default, which shakedown cannot
  read, so it assumes nothing weaker than ``baseline``). A production namespace
  that explicitly chose ``privileged`` keeps it: the change runs there anyway.
- Quotas: copies of production's ResourceQuotas and LimitRanges. When there is
  no ResourceQuota, ``DEFAULT_QUOTA`` applies; when there is no LimitRange,
  ``DEFAULT_LIMITS`` gives containers without resources a default, so the
  quota's compute keys admit them (and shakedown's own probe and Job pods).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shakedown.planning.infrarollout.objects import Obj, ObjKey, clean

PSA_PREFIX = "pod-security.kubernetes.io/"
PSA_MODES = ("enforce", "audit", "warn")
#: Pod Security levels, weakest first.
PSA_LEVELS = ("privileged", "baseline", "restricted")
#: The level a shadow gets for a mode production leaves unset.
FLOOR_LEVEL = "baseline"
DEFAULT_QUOTA_NAME = "shakedown-default"
#: The shadow's ResourceQuota when production has none: room for a few copies.
DEFAULT_QUOTA: Mapping[str, str] = {
    "pods": "20",
    "requests.cpu": "4",
    "requests.memory": "8Gi",
    "limits.cpu": "8",
    "limits.memory": "16Gi",
    "persistentvolumeclaims": "10",
    "requests.storage": "50Gi",
    "services.nodeports": "0",
    "services.loadbalancers": "0",
}
#: Container defaults when production has no LimitRange (else the quota refuses them).
DEFAULT_LIMITS: Mapping[str, Mapping[str, str]] = {
    "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
    "default": {"cpu": "1", "memory": "1Gi"},
}
QUOTA_KINDS = ("ResourceQuota", "LimitRange")


def pod_security_labels(production: Mapping[str, str] | None) -> dict[str, str]:
    """The shadow's Pod Security labels: production's, with ``FLOOR_LEVEL`` for unset modes."""
    labels = dict(production or {})
    out = {k: v for k, v in labels.items() if k.startswith(PSA_PREFIX)}
    for mode in PSA_MODES:
        key = PSA_PREFIX + mode
        if labels.get(key) not in PSA_LEVELS:
            # Unset, or a value the API server would not accept for production either.
            out[key] = _stronger(FLOOR_LEVEL, labels.get(PSA_PREFIX + "enforce"))
            out.pop(f"{key}-version", None)
    return out


def _stronger(floor: str, level: str | None) -> str:
    if level in PSA_LEVELS and PSA_LEVELS.index(level) > PSA_LEVELS.index(floor):
        return str(level)
    return floor


def quota_objects(production: Iterable[Obj], labels: Mapping[str, str]) -> dict[ObjKey, Obj]:
    """Copies of production's ResourceQuotas and LimitRanges, or the defaults, labelled."""
    out: dict[ObjKey, Obj] = {}
    for obj in production:
        if obj.get("kind") not in QUOTA_KINDS:
            continue
        copy = clean(obj)
        meta = copy["metadata"]
        meta.pop("namespace", None)
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        out[ObjKey.of(copy)] = copy
    kinds = {key.kind for key in out}
    if "ResourceQuota" not in kinds:
        quota = _object("ResourceQuota", labels, {"hard": dict(DEFAULT_QUOTA)})
        out[ObjKey.of(quota)] = quota
    if "LimitRange" not in kinds:
        limits = [{"type": "Container", **{k: dict(v) for k, v in DEFAULT_LIMITS.items()}}]
        limit_range = _object("LimitRange", labels, {"limits": limits})
        out[ObjKey.of(limit_range)] = limit_range
    return out


def _object(kind: str, labels: Mapping[str, str], spec: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": DEFAULT_QUOTA_NAME, "labels": dict(labels)},
        "spec": spec,
    }
