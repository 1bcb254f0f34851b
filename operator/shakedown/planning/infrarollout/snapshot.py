"""Phase 1, Snapshot: production as it was, stored durably beside the rollout.

Everything a rollback needs is in one Secret per revision, owned by the
InfraRollout: the targets exactly as they were (or a note that one did not
exist, so rollback deletes it), plus the objects the workloads depend on (the
ConfigMaps and Services they use, the Secrets ``shadow.copySecrets`` allows),
which the shadow is built from. A Secret rather than a ConfigMap because
targets may be Secrets. The snapshot is written once (create, never update): a
restarted operator can never overwrite it with a half-shifted production.

The content is one gzip-compressed JSON document (``format``: ``gzip-json/2``),
because a Secret holds at most 1 MiB of data; snapshots written before that
(one uncompressed key per object, no ``format``) still load. A snapshot that
does not fit even compressed is refused by the planner with a message naming
both sizes, never retried.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from shakedown.planning.infrarollout.objects import (
    CONFIG_KINDS,
    WORKLOAD_KINDS,
    Obj,
    ObjKey,
    config_refs,
    content,
    service_selects,
)

MISSING_KEY = "missing.json"
FORMAT_KEY = "format"
GZIP_FORMAT = "gzip-json/2"
CONTENT_KEY = "snapshot.json.gz"
#: The API server refuses a Secret whose data (decoded) exceeds 1 MiB.
SECRET_DATA_LIMIT = 1024 * 1024


def snapshot_name(rollout: str, revision: int) -> str:
    base = f"{rollout}-snapshot-{revision}"
    return base if len(base) <= 253 else f"{rollout[:200]}-snapshot-{revision}"


def snapshot_keys(
    targets: Collection[ObjKey],
    production: Mapping[ObjKey, Obj | None],
    services: Collection[Obj],
    copy_secrets: Collection[str],
) -> set[ObjKey]:
    """Targets plus what their workloads depend on and the shadow may copy."""
    keys = set(targets)
    for key in targets:
        obj = production.get(key)
        if obj is None or key.kind not in WORKLOAD_KINDS:
            continue
        for ref in config_refs(obj):
            if ref.kind == "ConfigMap" or ref.name in copy_secrets:
                keys.add(ref)
        for service in services:
            if service_selects(service, obj):
                keys.add(ObjKey.of(service))
    return keys


@dataclass(frozen=True)
class SnapshotContent:
    """Objects by key; ``None`` for a target that did not exist."""

    objects: Mapping[ObjKey, Obj | None]
    strategic: Mapping[int, Any] = field(default_factory=dict)
    """What the API server made of each strategic patch (by its index in
    ``spec.change.patches``), as JSON patch operations on the snapshotted object."""

    def to_secret_data(self) -> dict[str, str]:
        document = {
            "objects": [obj for _, obj in sorted(self.objects.items()) if obj is not None],
            "missing": sorted(str(k) for k, obj in self.objects.items() if obj is None),
            "strategic": {str(i): ops for i, ops in sorted(self.strategic.items())},
        }
        raw = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        # mtime=0: the same content always gives the same bytes.
        packed = gzip.compress(raw, mtime=0)
        return {
            FORMAT_KEY: _b64(GZIP_FORMAT.encode()),
            CONTENT_KEY: _b64(packed),
        }

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> SnapshotContent:
        if FORMAT_KEY not in data:
            return cls._from_legacy(data)
        marker = base64.b64decode(data[FORMAT_KEY]).decode()
        if marker != GZIP_FORMAT:
            raise ValueError(f"snapshot format {marker!r} is not known to this operator")
        document: Any = json.loads(gzip.decompress(base64.b64decode(data[CONTENT_KEY])))
        objects: dict[ObjKey, Obj | None] = {ObjKey.parse(k): None for k in document["missing"]}
        for obj in document["objects"]:
            objects[ObjKey.of(obj)] = obj
        strategic = {int(i): ops for i, ops in (document.get("strategic") or {}).items()}
        return cls(objects, strategic)

    @classmethod
    def _from_legacy(cls, data: Mapping[str, str]) -> SnapshotContent:
        """One uncompressed key per object, as operators before ``format`` wrote."""
        objects: dict[ObjKey, Obj | None] = {}
        for name, value in data.items():
            decoded: Any = json.loads(base64.b64decode(value))
            if name == MISSING_KEY:
                for key in decoded:
                    objects[ObjKey.parse(key)] = None
            else:
                objects[ObjKey.of(decoded)] = decoded
        return cls(objects)

    @classmethod
    def capture(
        cls,
        keys: Collection[ObjKey],
        production: Mapping[ObjKey, Obj | None],
        strategic: Mapping[int, Any] | None = None,
    ) -> SnapshotContent:
        objects: dict[ObjKey, Obj | None] = {}
        for key in keys:
            obj = production.get(key)
            if obj is None:
                objects[key] = None
                continue
            objects[key] = content(obj)
        return cls(objects, dict(strategic or {}))

    def configs(self) -> list[Obj]:
        return [o for k, o in self.objects.items() if o is not None and k.kind in CONFIG_KINDS]


def secret_data_size(data: Mapping[str, str]) -> int:
    """Bytes of a Secret's data as the API server counts them (decoded)."""
    return sum(len(base64.b64decode(value)) for value in data.values())


def too_large(name: str, data: Mapping[str, str]) -> str | None:
    """Why the snapshot cannot be stored in one Secret, or None when it fits."""
    size = secret_data_size(data)
    if size <= SECRET_DATA_LIMIT:
        return None
    return (
        f"snapshot {name} is {size} bytes compressed, over the {SECRET_DATA_LIMIT} bytes "
        "(1 MiB) one Secret may hold: make the targets and the ConfigMaps, Secrets and "
        "Services they use smaller, or split them over several InfraRollouts"
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
