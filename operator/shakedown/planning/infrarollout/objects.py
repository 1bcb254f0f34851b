"""Plain Kubernetes objects as the planner sees them: keys, cleaning, references.

The planner works on JSON-like dicts exactly as the API server returns them, so
that what is snapshotted, copied and restored is the real object and not a
lossy model of it. This module holds the small, pure operations on such dicts
that every phase needs: naming an object, stripping what the cluster sets,
finding the ConfigMaps and Secrets a pod template uses, hashing configuration
and comparing what was applied with what is wanted.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
CONFIG_KINDS = frozenset({"ConfigMap", "Secret"})

#: Annotation carrying the hash of what shakedown last wrote to an object.
APPLIED_ANNOTATION = "shakedown.dev/applied"
#: Pod template annotation: hash of the configuration the pods were started with.
CONFIG_HASH_ANNOTATION = "shakedown.dev/config-hash"
#: Labels on everything shakedown creates for a rollout (shadow, copies, snapshots).
ROLLOUT_LABEL = "shakedown.dev/infrarollout"
ROLLOUT_NAMESPACE_LABEL = "shakedown.dev/infrarollout-namespace"
REVISION_LABEL = "shakedown.dev/revision"
ROLE_LABEL = "shakedown.dev/role"
#: On the pods of smoke and bake checks (HTTP probes, test Jobs): the check's name.
CHECK_LABEL = "shakedown.dev/check"

#: Metadata the API server sets: never sent in an apply.
SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
#: What is never copied or compared: the server's metadata and what ties an object to others.
_SERVER_METADATA = (*SERVER_SET_METADATA, "ownerReferences", "finalizers")
_SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    APPLIED_ANNOTATION,
)
#: Also dropped from copies (shadow, canary, green): they were never kubectl-applied.
_COPY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(frozen=True, order=True)
class ObjKey:
    """A kind and a name; the namespace is implied by where the object lives."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjKey:
        return cls(str(obj.get("kind", "")), Meta.of(obj).name)

    @classmethod
    def parse(cls, text: str) -> ObjKey:
        kind, _, name = text.partition("/")
        if not kind or not name:
            raise ValueError(f"invalid object key {text!r}: expected Kind/name")
        return cls(kind, name)


@dataclass(frozen=True)
class Meta:
    """The metadata the planners read, typed, with the API server's omissions filled in.

    ``obj.get("metadata", {}).get("labels")`` repeated in every phase hid what
    was read and tripped over a null; ``Meta.of(obj)`` says it once.
    """

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    generation: int
    created: datetime | None
    """metadata.creationTimestamp."""
    deleting: bool
    """metadata.deletionTimestamp is set: the object is going away."""

    @classmethod
    def of(cls, obj: Mapping[str, Any] | None) -> Meta:
        raw = (obj or {}).get("metadata") or {}
        return cls(
            name=str(raw.get("name") or ""),
            labels=raw.get("labels") or {},
            annotations=raw.get("annotations") or {},
            generation=int(raw.get("generation") or 0),
            created=parse_time(raw.get("creationTimestamp")),
            deleting=bool(raw.get("deletionTimestamp")),
        )


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: Any, length: int = 16) -> str:
    """A stable hex hash of any JSON-like value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def stripped(obj: Mapping[str, Any], *, metadata: Iterable[str], annotations: Iterable[str]) -> Obj:
    """A deep copy without status, the ``metadata`` fields and the ``annotations`` named.

    What the server or its controllers write must not travel with a copy, a
    snapshot or an apply; the callers differ only in which fields that is.
    """
    out: Obj = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for field in metadata:
        meta.pop(field, None)
    _drop_annotations(meta, annotations)
    return out


def strip_server_fields(obj: Mapping[str, Any]) -> Obj:
    """A deep copy without status and without metadata the API server sets."""
    return stripped(obj, metadata=_SERVER_METADATA, annotations=_SERVER_ANNOTATIONS)


def clean(obj: Mapping[str, Any]) -> Obj:
    """Like ``strip_server_fields``, and fit to be created elsewhere as a copy."""
    out = strip_server_fields(obj)
    _drop_annotations(out["metadata"], _COPY_ANNOTATIONS)
    if out.get("kind") == "Service":
        spec = out.get("spec", {})
        if spec.get("clusterIP") != "None":
            for field in ("clusterIP", "clusterIPs"):
                spec.pop(field, None)
        spec.pop("healthCheckNodePort", None)
        for port in spec.get("ports", []) or []:
            port.pop("nodePort", None)
    return out


def _drop_annotations(meta: Obj, keys: Iterable[str]) -> None:
    """Remove ``keys`` from ``meta``'s annotations, and the field itself when nothing is left.

    An object left with ``annotations: {}`` would not compare equal to one that
    never had any, so the empty field goes too.
    """
    annotations = meta.get("annotations") or {}
    for key in keys:
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)


def content(obj: Mapping[str, Any]) -> Obj:
    """What identifies an object's desired state: clean, without the namespace."""
    out = strip_server_fields(obj)
    out.get("metadata", {}).pop("namespace", None)
    return out


def applied_hash(obj: Mapping[str, Any]) -> str:
    return short_hash(content(obj))


def observed_applied_hash(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    value = Meta.of(obj).annotations.get(APPLIED_ANNOTATION)
    return str(value) if value is not None else None


def is_applied(desired: Mapping[str, Any], observed: Mapping[str, Any] | None) -> bool:
    """Whether ``observed`` already is ``desired``: shakedown wrote it, or it never changed.

    The annotation covers what shakedown wrote (the server adds defaults, so the
    content alone would never match); the content comparison covers objects
    that are still exactly as snapshotted, which are then not touched at all.
    """
    if observed is None:
        return False
    wanted = applied_hash(desired)
    return observed_applied_hash(observed) == wanted or applied_hash(observed) == wanted


def with_applied_annotation(desired: Mapping[str, Any]) -> Obj:
    out = copy.deepcopy(dict(desired))
    meta = out.setdefault("metadata", {})
    meta.setdefault("annotations", {})[APPLIED_ANNOTATION] = applied_hash(desired)
    return out


def pod_template(obj: Mapping[str, Any]) -> Obj | None:
    if obj.get("kind") not in WORKLOAD_KINDS:
        return None
    template = obj.get("spec", {}).get("template")
    return template if isinstance(template, dict) else None


def pod_spec(obj: Mapping[str, Any]) -> Obj:
    template = pod_template(obj) or {}
    spec = template.get("spec")
    return spec if isinstance(spec, dict) else {}


def containers(obj: Mapping[str, Any]) -> Iterator[Obj]:
    spec = pod_spec(obj)
    for field in ("initContainers", "containers"):
        yield from spec.get(field) or []


def config_refs(obj: Mapping[str, Any]) -> set[ObjKey]:
    """ConfigMaps and Secrets a workload's pod template uses (volumes, env, envFrom)."""
    refs: set[ObjKey] = set()
    spec = pod_spec(obj)
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(ObjKey("ConfigMap", volume["configMap"].get("name", "")))
        if "secret" in volume:
            refs.add(ObjKey("Secret", volume["secret"].get("secretName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                refs.add(ObjKey("ConfigMap", source["configMap"].get("name", "")))
            if "secret" in source:
                refs.add(ObjKey("Secret", source["secret"].get("name", "")))
    for container in containers(obj):
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                refs.add(ObjKey("ConfigMap", env_from["configMapRef"].get("name", "")))
            if "secretRef" in env_from:
                refs.add(ObjKey("Secret", env_from["secretRef"].get("name", "")))
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                refs.add(ObjKey("ConfigMap", source["configMapKeyRef"].get("name", "")))
            if "secretKeyRef" in source:
                refs.add(ObjKey("Secret", source["secretKeyRef"].get("name", "")))
    for secret in spec.get("imagePullSecrets") or []:
        refs.add(ObjKey("Secret", secret.get("name", "")))
    return {ref for ref in refs if ref.name}


def rename_config_refs(obj: Obj, renames: Mapping[ObjKey, str]) -> None:
    """Point a workload's pod template at renamed ConfigMaps/Secrets, in place."""

    def new(kind: str, name: str) -> str:
        return renames.get(ObjKey(kind, name), name)

    spec = pod_spec(obj)
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            volume["configMap"]["name"] = new("ConfigMap", volume["configMap"].get("name", ""))
        if "secret" in volume:
            secret = volume["secret"]
            secret["secretName"] = new("Secret", secret.get("secretName", ""))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                source["configMap"]["name"] = new("ConfigMap", source["configMap"].get("name", ""))
            if "secret" in source:
                source["secret"]["name"] = new("Secret", source["secret"].get("name", ""))
    for container in containers(obj):
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                ref = env_from["configMapRef"]
                ref["name"] = new("ConfigMap", ref.get("name", ""))
            if "secretRef" in env_from:
                env_from["secretRef"]["name"] = new("Secret", env_from["secretRef"].get("name", ""))
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                ref["name"] = new("ConfigMap", ref.get("name", ""))
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                ref["name"] = new("Secret", ref.get("name", ""))


def config_payload(obj: Mapping[str, Any]) -> Obj:
    """The part of a ConfigMap or Secret that pods see."""
    return {key: obj.get(key) for key in ("data", "binaryData", "stringData") if obj.get(key)}


def config_hash(configs: Iterable[Mapping[str, Any]]) -> str:
    """Hash of a set of ConfigMaps/Secrets: changes whenever what pods read changes."""
    items = sorted((str(ObjKey.of(c)), config_payload(c)) for c in configs)
    return short_hash(items)


def set_template_annotation(obj: Obj, key: str, value: str) -> None:
    template = pod_template(obj)
    if template is None:
        return
    template.setdefault("metadata", {}).setdefault("annotations", {})[key] = value


def selector_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    """The matchLabels of a workload's selector (matchExpressions are not used here)."""
    selector = obj.get("spec", {}).get("selector") or {}
    labels = selector.get("matchLabels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def service_selects(service: Mapping[str, Any], workload: Mapping[str, Any]) -> bool:
    """Whether a Service routes to a workload's pods."""
    selector = service.get("spec", {}).get("selector") or {}
    template = pod_template(workload) or {}
    labels = template.get("metadata", {}).get("labels") or {}
    return labels_match(selector, labels)


def replicas(obj: Mapping[str, Any]) -> int:
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
