"""The Argo CD scripts on live objects: health as the run goes, actions the operator obeys.

The unit tests pin the scripts against captured objects; here each action's
output is sent the way Argo CD sends it (a merge patch of the object the script
returned against the live one) and the operator has to act on it: a promote
ends a canary pause, a request-run starts a run, a rollback moves the tag back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures import luacheck as harness
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.infrarollout import Operator, rollout, status, wait_for, wait_phase, workload

pytestmark = pytest.mark.cluster

IRO, CIR = "InfraRollout", "ContainerImageRefresh"


@pytest.fixture(scope="module")
def luacheck() -> Path:
    return harness.build()


class ArgoCd:
    """What Argo CD does with the scripts: read health, list actions, run one and patch."""

    def __init__(self, binary: Path, tmp: Path, kind: str) -> None:
        self.binary, self.tmp, self.kind = binary, tmp, kind

    def health(self, obj: dict[str, Any]) -> tuple[str, str]:
        script = harness.kind_dir(self.kind) / "health.lua"
        result = harness.run_lua(self.binary, "health", script, obj, self.tmp)
        return result["status"], result["message"]

    def offered(self, obj: dict[str, Any]) -> set[str]:
        script = harness.kind_dir(self.kind) / "actions" / "discovery.lua"
        actions = harness.run_lua(self.binary, "discovery", script, obj, self.tmp)
        return {name for name, spec in actions.items() if not spec["disabled"]}

    def patch_for(self, action: str, obj: dict[str, Any]) -> Any:
        script = harness.kind_dir(self.kind) / "actions" / action / "action.lua"
        after = harness.run_lua(self.binary, "action", script, obj, self.tmp)
        return harness.merge_patch(obj, after)


def test_a_canary_pause_is_suspended_and_the_promote_action_ends_it(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str, luacheck: Path, tmp_path: Path
) -> None:
    argo = ArgoCd(luacheck, tmp_path, IRO)
    workload(kube, ns, busybox_image)
    canary = {
        "type": "Canary",
        "canary": {"steps": [{"weight": 50}, {"pause": "10m"}, {"weight": 100}]},
    }
    rollout(kube, ns, message="v2", strategy=canary, bake="3s", http=False)
    wait_for(
        lambda: "paused" in (status(kube, ns).get("waitingFor") or ""),
        120,
        "the canary pause",
        lambda: status(kube, ns),
    )
    live = kube.get(IRO, ns, "change") or {}
    health, message = argo.health(live)
    assert health == "Suspended", message
    assert "shakedown promote iro change" in message
    assert "promote" in argo.offered(live)

    patch = argo.patch_for("promote", live)
    assert list(patch) == ["metadata"] and list(patch["metadata"]) == ["annotations"], patch
    kube.merge_patch(IRO, ns, "change", patch)
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=120)
    assert final["phase"] == "Succeeded", final
    done = kube.get(IRO, ns, "change") or {}
    assert argo.health(done)[0] == "Healthy"
    assert argo.offered(done) == {"pause", "undo"}


def test_request_run_and_rollback_actions_drive_a_refresh(
    refreshes: Refreshes, registry: str, luacheck: Path, tmp_path: Path
) -> None:
    argo = ArgoCd(luacheck, tmp_path, CIR)
    refreshes.config_map(
        "ctx",
        {
            "Containerfile": (
                f"FROM {registry}/shakedown/busybox:latest\nARG VERSION=0\n"
                'RUN echo "version $VERSION" > /version\n'
            ),
        },
    )
    tests = [{"name": "version", "command": ["/bin/sh", "-c", "cat /version"], "timeout": "1m"}]
    source = {"configMap": {"name": "ctx"}, "buildArgs": {"VERSION": "1"}}
    refreshes.create(
        "app", {"image": refreshes.image("app"), "tag": "stable", "source": source, "tests": tests}
    )
    first = refreshes.wait_run("app", "1")["promotedDigest"]
    live = refreshes.get("app")
    assert argo.health(live)[0] == "Healthy"
    assert argo.offered(live) == {"request-run", "suspend"}, "nothing to roll back to yet"

    refreshes.patch_spec("app", {"source": {"buildArgs": {"VERSION": "2"}}})
    second = refreshes.wait_run("app", "2")["promotedDigest"]
    assert second != first
    live = refreshes.get("app")
    assert argo.offered(live) == {"request-run", "rollback", "suspend"}
    refreshes.custom.patch_namespaced_custom_object(
        "shakedown.dev",
        "v1alpha1",
        refreshes.namespace,
        "containerimagerefreshes",
        "app",
        argo.patch_for("rollback", live),
    )
    refreshes.wait_for("the rollback", lambda: refreshes.tag_digest("app", "stable") == first)

    live = refreshes.get("app")
    refreshes.custom.patch_namespaced_custom_object(
        "shakedown.dev",
        "v1alpha1",
        refreshes.namespace,
        "containerimagerefreshes",
        "app",
        argo.patch_for("request-run", live),
    )
    run = refreshes.wait_run("app", "3")["lastRun"]
    assert run["trigger"] == "Manual", run
    assert argo.health(refreshes.get("app"))[0] == "Healthy"
