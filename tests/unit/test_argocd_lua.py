"""The Argo CD health checks and actions, run by gopher-lua against captured objects.

The scripts in integrations/argocd run inside Argo CD's Lua sandbox; these tests
run them the same way (``hack/luacheck``: gopher-lua, the interpreter Argo CD
embeds, built from the Go module proxy and cached like the cluster's binaries)
against objects captured from real runs in every phase
(tests/data/argocd, made by hack/argocd_capture.py). They pin what an Argo CD
user sees: the health status and message per phase, which actions are offered,
and that each action writes exactly what the matching ``shakedown`` command writes.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shakedown.cli.lifecycle import (
    CIR,
    IRO,
    plan_pause,
    plan_resume,
    plan_retry,
    plan_suspend,
    plan_undo,
)
from shakedown.presentation import argocd_cm
from shakedown.presentation.errors import UserError
from shakedown.presentation.steering import plan_abort, plan_promote, plan_rollback, plan_trigger
from tests.fixtures import luacheck as harness
from tests.fixtures.luacheck import SCRIPTS, kind_dir, merge_patch

DATA = Path(__file__).resolve().parents[1] / "data" / "argocd"
NOW = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
STAMP = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
Obj = dict[str, Any]
PAUSED = "shakedown.dev/paused"


@pytest.fixture(scope="module")
def luacheck() -> Path:
    return harness.build()


def run_lua(binary: Path, mode: str, script: Path, obj: Mapping[str, Any], tmp: Path) -> Any:
    return harness.run_lua(binary, mode, script, obj, tmp, now=STAMP)


def captured(short: str) -> dict[str, Obj]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((DATA / short).glob("*.json"))}


def _fixture_note(objects: Mapping[str, Obj], expected: Mapping[str, object]) -> None:
    assert set(objects) == set(expected), (
        "every captured object needs an expectation (and every expectation an object): "
        f"missing {sorted(set(objects) - set(expected))}, "
        f"stale {sorted(set(expected) - set(objects))}"
    )


# --------------------------------------------------------------------------- health
#: Per captured object: the health Argo CD shows, and how its message starts.
CIR_HEALTH: dict[str, tuple[str, str]] = {
    "cir-Building-lastBuilding-history": (
        "Progressing",
        "Run 3 Building: started by spec changed (generation 5)",
    ),
    "cir-Building-lastBuilding": ("Progressing", "Run 1 Building: started by created"),
    "cir-Pending-lastPending-history": (
        "Progressing",
        "Run 3 Pending: started by spec changed (generation 5)",
    ),
    "cir-Pending-lastPending": ("Progressing", "Run 1 Pending: started by created"),
    "cir-Promoting-lastPromoting-history": ("Progressing", "Run 4 Promoting: moving stable to"),
    "cir-Promoting-lastPromoting": ("Progressing", "Run 1 Promoting: moving stable to"),
    "cir-Testing-lastTesting-history": ("Progressing", "Run 3 Testing: testing 1 scenario(s)"),
    "cir-Testing-lastTesting-stalled": (
        "Degraded",
        "InvalidSpec: spec.buildResources: Extra inputs are not",
    ),
    "cir-Testing-lastTesting-suspended": ("Progressing", "Run 2 Testing: testing 2 scenario(s)"),
    "cir-Testing-lastTesting": ("Progressing", "Run 1 Testing: testing 2 scenario(s)"),
    "cir-idle-lastFailed-history": (
        "Degraded",
        "Run 3 Failed: 1 of 1 scenario(s) failed: check (exit",
    ),
    "cir-idle-lastFailed": ("Degraded", "Run 2 Failed: 1 of 2 scenario(s) failed: check (exit"),
    "cir-idle-lastNone-stalled": (
        "Degraded",
        "InvalidSpec: spec.buildResources: Extra inputs are not",
    ),
    "cir-idle-lastNone-suspended-history": (
        "Progressing",
        "Waiting for the shakedown operator to pick the refresh",
    ),
    "cir-idle-lastNone-suspended-stalled": (
        "Degraded",
        "InvalidSpec: spec.schedule: '0 0 30 2 *' never fires",
    ),
    "cir-idle-lastNone-suspended": ("Suspended", "spec.suspend is true: no new runs start"),
    "cir-idle-lastSucceeded-history": ("Healthy", "Run 2 Succeeded: promoted"),
    "cir-idle-lastSucceeded-stalled-history": (
        "Degraded",
        "InvalidSpec: spec.schedule: '99 * * * *' is not a cron",
    ),
    "cir-idle-lastSucceeded-suspended-history-unobserved": (
        "Progressing",
        "Waiting for the operator to observe generation 3",
    ),
    "cir-idle-lastSucceeded-suspended-history": (
        "Suspended",
        "spec.suspend is true: no new runs start (last: Run 2",
    ),
    "cir-idle-lastSucceeded": ("Healthy", "Run 1 Succeeded: promoted"),
    "cir-idle-lastValidated": ("Healthy", "Run 1 Validated: all 2 scenario(s) passed; promote is"),
    "cir-nostatus": ("Progressing", "Waiting for the shakedown operator to pick the refresh"),
}
IRO_HEALTH: dict[str, tuple[str, str]] = {
    "iro-Aborted": ("Degraded", "Aborted (revision 1): deleted before the shift"),
    "iro-Baking": ("Progressing", "Baking (revision 1): production shifted; baking for 3s"),
    "iro-Failed": ("Degraded", "Failed (revision 1): ImagePull: shadow broken: pod"),
    "iro-Pending-held": ("Progressing", "Pending (revision 1): new change detected"),
    "iro-Pending-rev0-stalled-unobserved": (
        "Progressing",
        "Waiting for the operator to observe generation 2",
    ),
    "iro-Pending-rev0-stalled": (
        "Degraded",
        "InvalidSpec: spec.change.patches[0].patch: a json patch",
    ),
    "iro-Pending-rev0": ("Progressing", "No revision yet: ContainerImageRefresh absent: not found"),
    "iro-Pending": ("Progressing", "Pending (revision 1): new change detected"),
    "iro-RolledBack": ("Degraded", "RolledBack (revision 1): rolled back: NotReady: pod"),
    "iro-RollingBack": ("Progressing", "RollingBack (revision 1): restoring the snapshot"),
    "iro-Shadowing-held": ("Progressing", "Shadowing (revision 1): snapshot change-snapshot-1"),
    "iro-Shadowing": ("Progressing", "Shadowing (revision 1): snapshot change-snapshot-1"),
    "iro-Shifting-held": ("Suspended", "Shifting (revision 1): paused by shakedown.dev/paused"),
    "iro-Shifting-paused-held": (
        "Suspended",
        "Shifting (revision 1): paused by shakedown.dev/paused",
    ),
    "iro-Shifting-paused": ("Suspended", "Shifting (revision 1): canary step 2 paused: waiting"),
    "iro-Shifting": ("Progressing", "Shifting (revision 1): smoke tests passed; shifting"),
    "iro-SmokeTesting-held": ("Progressing", "SmokeTesting (revision 1): shadow copies created in"),
    "iro-SmokeTesting": ("Progressing", "SmokeTesting (revision 1): shadow copies created in"),
    "iro-Snapshotting-held": ("Progressing", "Snapshotting (revision 1): snapshotting production"),
    "iro-Snapshotting": ("Progressing", "Snapshotting (revision 1): snapshotting production"),
    "iro-Succeeded": ("Healthy", "Succeeded (revision 1): baked; production runs the"),
    "iro-Validated-unobserved": ("Progressing", "Waiting for the operator to observe generation 2"),
    "iro-Validated": ("Healthy", "Validated (revision 1): smoke tests passed; production"),
    "iro-nostatus": ("Progressing", "Waiting for the shakedown operator to pick the rollout"),
}


@pytest.mark.parametrize(
    ("short", "kind", "expected"),
    [("cir", "ContainerImageRefresh", CIR_HEALTH), ("iro", "InfraRollout", IRO_HEALTH)],
)
def test_health_of_every_captured_state(
    luacheck: Path, tmp_path: Path, short: str, kind: str, expected: dict[str, tuple[str, str]]
) -> None:
    objects = captured(short)
    _fixture_note(objects, expected)
    seen = {}
    for name, obj in objects.items():
        health = run_lua(luacheck, "health", kind_dir(kind) / "health.lua", obj, tmp_path)
        seen[name] = (health["status"], health["message"])
    wrong = {
        name: got
        for name, got in seen.items()
        if got[0] != expected[name][0] or not got[1].startswith(expected[name][1])
    }
    assert not wrong, wrong


# --------------------------------------------------------------------------- actions
#: Per captured object: the actions discovery offers (all others are disabled).
CIR_ENABLED: dict[str, set[str]] = {
    "cir-Building-lastBuilding-history": {"request-run", "rollback", "suspend"},
    "cir-Building-lastBuilding": {"request-run", "suspend"},
    "cir-Pending-lastPending-history": {"request-run", "rollback", "suspend"},
    "cir-Pending-lastPending": {"request-run", "suspend"},
    "cir-Promoting-lastPromoting-history": {"request-run", "rollback", "suspend"},
    "cir-Promoting-lastPromoting": {"request-run", "suspend"},
    "cir-Testing-lastTesting-history": {"request-run", "rollback", "suspend"},
    "cir-Testing-lastTesting-stalled": {"request-run", "suspend"},
    "cir-Testing-lastTesting-suspended": {"resume"},
    "cir-Testing-lastTesting": {"request-run", "suspend"},
    "cir-idle-lastFailed-history": {"request-run", "rollback", "suspend"},
    "cir-idle-lastFailed": {"request-run", "suspend"},
    "cir-idle-lastNone-stalled": {"request-run", "suspend"},
    "cir-idle-lastNone-suspended-history": {"resume", "rollback"},
    "cir-idle-lastNone-suspended-stalled": {"resume"},
    "cir-idle-lastNone-suspended": {"resume"},
    "cir-idle-lastSucceeded-history": {"request-run", "rollback", "suspend"},
    "cir-idle-lastSucceeded-stalled-history": {"request-run", "rollback", "suspend"},
    "cir-idle-lastSucceeded-suspended-history-unobserved": {"resume", "rollback"},
    "cir-idle-lastSucceeded-suspended-history": {"resume", "rollback"},
    "cir-idle-lastSucceeded": {"request-run", "suspend"},
    "cir-idle-lastValidated": {"request-run", "suspend"},
    "cir-nostatus": {"request-run", "suspend"},
}
IRO_ENABLED: dict[str, set[str]] = {
    "iro-Aborted": {"pause", "retry"},
    "iro-Baking": {"abort", "pause"},
    "iro-Failed": {"pause", "retry"},
    "iro-Pending-held": {"abort", "resume"},
    "iro-Pending-rev0-stalled-unobserved": {"pause"},
    "iro-Pending-rev0-stalled": {"pause"},
    "iro-Pending-rev0": {"pause"},
    "iro-Pending": {"abort", "pause"},
    "iro-RolledBack": {"pause", "retry"},
    "iro-RollingBack": {"pause"},
    "iro-Shadowing-held": {"abort", "resume"},
    "iro-Shadowing": {"abort", "pause"},
    "iro-Shifting-held": {"abort", "resume"},
    "iro-Shifting-paused-held": {"abort", "promote", "resume"},
    "iro-Shifting-paused": {"abort", "pause", "promote"},
    "iro-Shifting": {"abort", "pause"},
    "iro-SmokeTesting-held": {"abort", "resume"},
    "iro-SmokeTesting": {"abort", "pause"},
    "iro-Snapshotting-held": {"abort", "resume"},
    "iro-Snapshotting": {"abort", "pause"},
    "iro-Succeeded": {"pause", "undo"},
    "iro-Validated-unobserved": {"pause"},
    "iro-Validated": {"pause"},
    "iro-nostatus": {"pause"},
}


def cli_patch(kind: str, action: str, obj: Obj) -> Any:
    """The merge patch the matching ``shakedown`` command sends (UserError where it refuses)."""
    if kind == "ContainerImageRefresh":
        if action == "request-run":
            steer = plan_trigger(obj, now=NOW)
        elif action == "rollback":
            steer = plan_rollback(obj, now=NOW)
        elif action == "suspend":
            return plan_suspend(obj, CIR).body
        else:
            assert action == "resume"
            return plan_resume(obj, CIR).body
        return {"metadata": {"annotations": {steer.annotation: steer.value}}}
    planners: dict[str, Callable[[], Any]] = {
        "promote": lambda: _steer_body(plan_promote(obj, now=NOW)),
        "abort": lambda: _steer_body(plan_abort(obj, now=NOW)),
        "retry": lambda: plan_retry(obj, IRO, now=NOW).body,
        "undo": lambda: plan_undo(obj, to_revision=None, now=NOW).body,
        "pause": lambda: plan_pause(obj, IRO).body,
        "resume": lambda: plan_resume(obj, IRO).body,
    }
    return planners[action]()


def _steer_body(steer: Any) -> Any:
    return {"metadata": {"annotations": {steer.annotation: steer.value}}}


def as_argo_cd_applies(patch: Any, obj: Obj) -> Any:
    """The CLI's patch, except where Argo CD cannot express it.

    Removing the last annotation empties the table, which Argo CD would restore
    whole; the resume action writes "false" there instead (see its script).
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if patch == {"metadata": {"annotations": {PAUSED: None}}} and set(annotations) == {PAUSED}:
        return {"metadata": {"annotations": {PAUSED: "false"}}}
    return patch


#: Actions whose command refuses where the operator would not act: discovery must agree.
CLI_CHECKED = {
    "ContainerImageRefresh": {"rollback", "resume"},
    "InfraRollout": {"retry", "undo", "resume"},
}


def action_names(kind: str) -> set[str]:
    return {p.parent.name for p in (kind_dir(kind) / "actions").glob("*/action.lua")}


@pytest.mark.parametrize(
    ("short", "kind", "expected"),
    [("cir", "ContainerImageRefresh", CIR_ENABLED), ("iro", "InfraRollout", IRO_ENABLED)],
)
def test_discovery_offers_what_applies_and_each_action_patches_as_the_cli_does(
    luacheck: Path, tmp_path: Path, short: str, kind: str, expected: dict[str, set[str]]
) -> None:
    objects = captured(short)
    _fixture_note(objects, expected)
    names = action_names(kind)
    for name, obj in objects.items():
        offered = run_lua(
            luacheck, "discovery", kind_dir(kind) / "actions/discovery.lua", obj, tmp_path
        )
        assert set(offered) == names, f"{name}: discovery must list every action"
        enabled = {a for a, spec in offered.items() if not spec["disabled"]}
        assert enabled == expected[name], name
        for action in sorted(names):
            try:
                want = cli_patch(kind, action, obj)
            except UserError:
                want = None
            if action in CLI_CHECKED[kind]:
                assert (want is not None) == (action in enabled), (
                    f"{name}: {action} offered={action in enabled} but the CLI "
                    f"{'accepts' if want is not None else 'refuses'} it"
                )
            if action not in enabled:
                continue
            script = kind_dir(kind) / "actions" / action / "action.lua"
            after = run_lua(luacheck, "action", script, obj, tmp_path)
            assert merge_patch(obj, after) == as_argo_cd_applies(want, obj), f"{name}: {action}"


def _with_annotations(obj: Obj, annotations: dict[str, str] | None) -> Obj:
    copy: Obj = json.loads(json.dumps(obj))
    if annotations is None:
        copy["metadata"].pop("annotations", None)
    else:
        copy["metadata"]["annotations"] = annotations
    return copy


def test_a_second_click_in_the_same_second_is_still_a_new_request(
    luacheck: Path, tmp_path: Path
) -> None:
    """The operator acts once per new value; os.date has whole seconds, so Lua makes it new."""
    obj = captured("iro")["iro-Shifting-paused"]
    first = plan_promote(obj, now=NOW).value
    again = _with_annotations(obj, {"shakedown.dev/promote": first})
    script = kind_dir("InfraRollout") / "actions" / "promote" / "action.lua"
    after = run_lua(luacheck, "action", script, again, tmp_path)
    value = after["metadata"]["annotations"]["shakedown.dev/promote"]
    assert value != first and value.startswith(first)


def test_rolling_back_to_the_digest_asked_for_before_adds_the_time(
    luacheck: Path, tmp_path: Path
) -> None:
    obj = captured("cir")["cir-idle-lastSucceeded-history"]
    target = plan_rollback(obj, now=NOW).value
    for old in (target, f"{target} requested-at=2026-01-01T00:00:00.000000Z"):
        asked = _with_annotations(obj, {"shakedown.dev/rollback-to": old})
        script = kind_dir("ContainerImageRefresh") / "actions" / "rollback" / "action.lua"
        after = run_lua(luacheck, "action", script, asked, tmp_path)
        steer = plan_rollback(asked, now=NOW)
        assert steer.value == f"{target} requested-at={NOW:%Y-%m-%dT%H:%M:%S.%fZ}"
        assert after["metadata"]["annotations"] == {"shakedown.dev/rollback-to": steer.value}


def test_actions_add_annotations_to_an_object_without_any(luacheck: Path, tmp_path: Path) -> None:
    obj = _with_annotations(captured("iro")["iro-Shifting-paused"], None)
    script = kind_dir("InfraRollout") / "actions" / "abort" / "action.lua"
    after = run_lua(luacheck, "action", script, obj, tmp_path)
    assert merge_patch(obj, after) == _steer_body(plan_abort(obj, now=NOW))


def test_resume_when_paused_is_the_only_annotation_writes_false(
    luacheck: Path, tmp_path: Path
) -> None:
    """Argo CD would put an emptied annotations table back whole; "false" also resumes."""
    obj = _with_annotations(captured("iro")["iro-Shifting"], {"shakedown.dev/paused": "true"})
    script = kind_dir("InfraRollout") / "actions" / "resume" / "action.lua"
    after = run_lua(luacheck, "action", script, obj, tmp_path)
    assert after["metadata"]["annotations"] == {"shakedown.dev/paused": "false"}
    health = run_lua(luacheck, "health", kind_dir("InfraRollout") / "health.lua", after, tmp_path)
    assert health["status"] == "Progressing", health


def test_the_harness_has_argo_cds_sandbox(luacheck: Path, tmp_path: Path) -> None:
    """No string library in Argo CD's sandbox: a script using it fails here as it would there."""
    script = tmp_path / "uses_string.lua"
    script.write_text('return {status = string.upper("healthy")}\n')
    (tmp_path / "obj.json").write_text("{}")
    proc = subprocess.run(
        [str(luacheck), "-script", str(script), "-obj", str(tmp_path / "obj.json")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert "upper" in proc.stderr or "string" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- argocd-cm
def test_the_argocd_cm_snippet_is_rendered_from_the_scripts() -> None:
    snippet = SCRIPTS / "argocd-cm.yaml"
    rendered = argocd_cm.render(argocd_cm.read(SCRIPTS))
    assert snippet.read_text() == rendered, (
        "integrations/argocd/argocd-cm.yaml is stale: run "
        "python -m shakedown.presentation.argocd_cm integrations/argocd "
        "> integrations/argocd/argocd-cm.yaml"
    )
    data = yaml.safe_load(rendered)["data"]
    for kind in ("ContainerImageRefresh", "InfraRollout"):
        key = f"shakedown.dev_{kind}"
        assert (
            data[f"resource.customizations.health.{key}"]
            == (kind_dir(kind) / "health.lua").read_text()
        )
        actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
        assert actions["discovery.lua"] == (kind_dir(kind) / "actions/discovery.lua").read_text()
        scripts = {d["name"]: d["action.lua"] for d in actions["definitions"]}
        assert scripts == {
            name: (kind_dir(kind) / "actions" / name / "action.lua").read_text()
            for name in action_names(kind)
        }


def test_rendering_a_directory_without_scripts_names_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(str(tmp_path))):
        argocd_cm.read(tmp_path)
    (tmp_path / "g.dev" / "Kind" / "actions" / "go").mkdir(parents=True)
    (tmp_path / "g.dev" / "Kind" / "actions" / "go" / "action.lua").write_text("return obj\n")
    with pytest.raises(UserError, match=r"without discovery\.lua"):
        argocd_cm.read(tmp_path)
