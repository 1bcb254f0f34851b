"""Strategic patches as the API server computes them, and snapshots too large for a Secret."""

from __future__ import annotations

import base64
import copy
import json
import random
from typing import Any

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.objects import Obj, ObjKey
from shakedown.planning.infrarollout.snapshot import (
    FORMAT_KEY,
    MISSING_KEY,
    SECRET_DATA_LIMIT,
    SnapshotContent,
    secret_data_size,
    too_large,
)
from shakedown.planning.infrarollout.strategic import StrategicPreview

from .infrarollout_world import NS, World, configmap

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")
DONE = {"Succeeded", "Failed", "RolledBack", "Aborted"}
MOUNTS = [
    {"name": "conf", "mountPath": "/etc/a"},
    {"name": "conf", "mountPath": "/etc/b", "subPath": "b"},
]


def _with_mounts(world: World) -> None:
    obj = copy.deepcopy(world.get(DEPLOY))
    assert obj is not None
    obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = copy.deepcopy(MOUNTS)
    world.put(NS, obj)


def _server_merges_mounts_by_mount_path(obj: Obj, patch: Any) -> StrategicPreview:
    """What the API server does with a volumeMounts patch: merge by mountPath."""
    mounts = obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    for new in patch["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
        mounts[:] = [m for m in mounts if m["mountPath"] != new["mountPath"]] + [new]
    obj["metadata"]["generation"] += 1  # server fields are not part of the result
    return StrategicPreview(result=obj)


def strategic_spec(mount: dict[str, Any]) -> dict[str, Any]:
    containers = [{"name": "web", "volumeMounts": [mount]}]
    return {
        "change": {
            "patches": [
                {
                    "target": {"kind": "Deployment", "name": "web"},
                    "type": "strategic",
                    "patch": {"spec": {"template": {"spec": {"containers": containers}}}},
                }
            ]
        }
    }


def test_production_gets_what_the_api_server_made_of_a_strategic_patch() -> None:
    world = World.default(strategic_spec({"name": "conf", "mountPath": "/etc/c"}))
    world.strategic_server = _server_merges_mounts_by_mount_path
    _with_mounts(world)
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.SUCCEEDED, final.message
    live = world.get(DEPLOY)
    assert live is not None
    mounts = live["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/etc/a", "/etc/b", "/etc/c"]
    snapshot = SnapshotContent.from_secret_data(world.snapshots["change-snapshot-1"])
    assert set(snapshot.strategic) == {0}, "the server's result is stored with the snapshot"


def test_a_strategic_patch_the_server_refuses_fails_naming_the_field() -> None:
    world = World.default(strategic_spec({"name": "conf"}))
    world.strategic_server = lambda _obj, _patch: StrategicPreview(
        error='Deployment.apps "web" is invalid: volumeMounts[2].mountPath: Required value'
    )
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert "spec.change.patches[0].patch: the API server refused" in final.message
    assert "mountPath: Required value" in final.message
    assert world.snapshots == {}


def test_a_strategic_patch_of_an_object_that_does_not_exist_yet_says_it_cannot_be_previewed() -> (
    None
):
    spec = strategic_spec({"name": "conf", "mountPath": "/etc/c"})
    spec["targets"] = [{"kind": "Deployment", "name": "web"}, {"kind": "Deployment", "name": "new"}]
    spec["change"]["patches"][0]["target"]["name"] = "new"
    spec["change"]["manifests"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "new"}, "spec": {}}
    ]
    world = World.default(spec)
    world.strategic_server = _server_merges_mounts_by_mount_path
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert "spec.change.patches[0]: Deployment/new is replaced by spec.change.manifests" in (
        final.message
    )


def test_a_strategic_patch_of_a_missing_configmap_says_it_cannot_be_previewed() -> None:
    patch = {"target": {"kind": "ConfigMap", "name": "new"}, "type": "strategic", "patch": {}}
    spec = {
        "targets": [{"kind": "Deployment", "name": "web"}, {"kind": "ConfigMap", "name": "new"}],
        "change": {"patches": [patch]},
    }
    world = World.default(spec)
    world.strategic_server = _server_merges_mounts_by_mount_path
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert "spec.change.patches[0]: ConfigMap/new does not exist yet" in final.message


# --------------------------------------------------------------------------- snapshot format
def _noise(size: int, seed: int) -> str:
    """Text that gzip cannot shrink much (base64 of random bytes)."""
    raw = random.Random(seed).randbytes(size * 3 // 4)
    return base64.b64encode(raw).decode()


def test_a_snapshot_round_trips_compressed_with_a_format_marker() -> None:
    objects: dict[ObjKey, Obj | None] = {
        CONFIG: {**configmap(), "data": {"MESSAGE": "x" * 900_000}},
        ObjKey("Deployment", "gone"): None,
    }
    content = SnapshotContent(objects, {0: [{"op": "add", "path": "/data/A", "value": "1"}]})
    data = content.to_secret_data()
    assert base64.b64decode(data[FORMAT_KEY]) == b"gzip-json/2"
    assert secret_data_size(data) < 10_000, "900 kB of repetitive data compresses"
    assert SnapshotContent.from_secret_data(data) == content
    assert content.to_secret_data() == data, "the same content gives the same bytes"


def test_a_snapshot_written_before_compression_still_loads() -> None:
    def b64(value: Any) -> str:
        return base64.b64encode(json.dumps(value).encode()).decode()

    legacy = {"ConfigMap.web-config.json": b64(configmap()), MISSING_KEY: b64(["Service/gone"])}
    loaded = SnapshotContent.from_secret_data(legacy)
    assert loaded.objects == {CONFIG: configmap(), ObjKey("Service", "gone"): None}
    assert loaded.strategic == {}


def test_the_size_limit_is_the_secrets_decoded_data() -> None:
    fits = SnapshotContent({CONFIG: {**configmap(), "data": {"A": _noise(900_000, 1)}}})
    assert too_large("s", fits.to_secret_data()) is None
    both = {**configmap(), "data": {"A": _noise(900_000, 1), "B": _noise(900_000, 2)}}
    data = SnapshotContent({CONFIG: both}).to_secret_data()
    size = secret_data_size(data)
    assert size > SECRET_DATA_LIMIT
    assert too_large("s", data) == (
        f"snapshot s is {size} bytes compressed, over the 1048576 bytes (1 MiB) one Secret "
        "may hold: make the targets and the ConfigMaps, Secrets and Services they use "
        "smaller, or split them over several InfraRollouts"
    )


def test_a_snapshot_too_large_for_a_secret_fails_the_rollout_once_with_the_sizes() -> None:
    world = World.default({})
    big = {**configmap(), "data": {"A": _noise(900_000, 1), "B": _noise(900_000, 2)}}
    world.put(NS, big)
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert final.failure_reason == "SnapshotTooLarge"
    assert "snapshot change-snapshot-1 is " in final.message and "1048576 bytes" in final.message
    assert world.snapshots == {}, "nothing is stored, and nothing is retried"
    stalled = [c for c in final.conditions if c.type == "Stalled"]
    assert stalled and stalled[0].reason == "SnapshotTooLarge"
    assert sum(e.reason == "Failed" for d in world.decisions for e in d.events) == 1


def test_an_invalid_json_patch_fails_the_rollout_once_naming_the_field() -> None:
    op = {"op": "add", "path": "/spec/template/spec/containers/9", "value": {"name": "x"}}
    patch = {"target": {"kind": "Deployment", "name": "web"}, "type": "json", "patch": [op]}
    world = World.default({"change": {"patches": [patch]}})
    final = world.run(until=DONE)
    assert final.phase is RolloutPhase.FAILED
    assert final.failure_reason == "InvalidChange"
    assert "spec.change.patches[0].patch (json patch of Deployment/web): " in final.message
    assert not [a for a in world.log if type(a).__name__ == "Apply"], "nothing applied"
