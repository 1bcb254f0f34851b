"""Phase 1, Snapshot: production as it was, stored durably beside the rollout.

Everything a rollback needs is in one Secret per revision, owned by the
InfraRollout: the targets exactly as they were (or a note that one did not
exist, so rollback deletes it), plus the objects the workloads depend on (the
ConfigMaps and Services they use, the Secrets ``shadow.copySecrets`` allows),
which the shadow is built from. A Secret rather than a ConfigMap because
targets may be Secrets. The snapshot is written once (create, never update): a
restarted operator can never overwrite it with a half-shifted production.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
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

    def to_secret_data(self) -> dict[str, str]:
        data: dict[str, str] = {}
        missing: list[str] = []
        for key, obj in sorted(self.objects.items()):
            if obj is None:
                missing.append(str(key))
            else:
                data[_data_key(key)] = _b64(json.dumps(obj, sort_keys=True))
        data[MISSING_KEY] = _b64(json.dumps(missing))
        return data

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> SnapshotContent:
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
        cls, keys: Collection[ObjKey], production: Mapping[ObjKey, Obj | None]
    ) -> SnapshotContent:
        objects: dict[ObjKey, Obj | None] = {}
        for key in keys:
            obj = production.get(key)
            if obj is None:
                objects[key] = None
                continue
            objects[key] = content(obj)
        return cls(objects)

    def configs(self) -> list[Obj]:
        return [o for k, o in self.objects.items() if o is not None and k.kind in CONFIG_KINDS]


def _data_key(key: ObjKey) -> str:
    return f"{key.kind}.{key.name}.json"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
