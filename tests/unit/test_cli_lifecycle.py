"""retry, undo, pause, resume, suspend: what each asks of the operator, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shakedown.cli.lifecycle import (
    CIR,
    IRO,
    plan_pause,
    plan_resume,
    plan_retry,
    plan_suspend,
    plan_undo,
)
from shakedown.cli.main import UserError, main


def iro(phase: str, revision: int = 2, **extra: Any) -> dict[str, Any]:
    annotations = extra.pop("annotations", {})
    return {
        "metadata": {"name": "web", "annotations": annotations},
        "spec": {},
        "status": {"phase": phase, "revision": revision, **extra},
    }


def cir(last: str | None, **spec: Any) -> dict[str, Any]:
    status = {"lastRun": {"id": "r7", "phase": last}} if last else {}
    return {"metadata": {"name": "app"}, "spec": spec, "status": status}


def annotation(body: Any, key: str) -> Any:
    return body["metadata"]["annotations"][key]


def test_retry_a_rolled_back_revision_sets_a_fresh_retry() -> None:
    patch = plan_retry(iro("RolledBack"), IRO)
    assert annotation(patch.body, "shakedown.dev/retry")
    assert "revision 3" in patch.says
    assert plan_retry(iro("Failed"), IRO).body != {}


@pytest.mark.parametrize("phase", ["Succeeded", "Shifting", "Pending"])
def test_retry_refuses_a_revision_that_did_not_fail(phase: str) -> None:
    with pytest.raises(UserError, match=f"revision 2 is {phase}"):
        plan_retry(iro(phase), IRO)


def test_retry_a_failed_run_requests_a_new_run() -> None:
    patch = plan_retry(cir("Failed"), CIR)
    assert annotation(patch.body, "shakedown.dev/run-requested")
    assert patch.says == "containerimagerefresh/app: retry of run r7 requested"
    with pytest.raises(UserError, match="last run is Succeeded"):
        plan_retry(cir("Succeeded"), CIR)
    with pytest.raises(UserError, match="is suspended and would ignore the request"):
        plan_retry(cir("Failed", suspend=True), CIR)


def test_undo_without_a_revision_restores_the_last_revisions_snapshot() -> None:
    patch = plan_undo(iro("Succeeded"), to_revision=None)
    assert annotation(patch.body, "shakedown.dev/undo").startswith("2 requested-at=")
    assert patch.needs_snapshot == 2


def test_undo_to_a_revision_restores_the_snapshot_of_the_one_after_it() -> None:
    history = [{"revision": 2, "result": "Succeeded"}, {"revision": 1, "result": "Succeeded"}]
    patch = plan_undo(iro("Succeeded", revision=3, history=history), to_revision=1)
    assert annotation(patch.body, "shakedown.dev/undo").startswith("2 requested-at=")
    assert "undo to revision 1" in patch.says


@pytest.mark.parametrize(
    ("obj", "to", "error"),
    [
        (iro("Shifting"), None, "stop it with `shakedown abort iro web`"),
        (iro("RolledBack"), None, "production is not on its change"),
        (iro("Succeeded"), 2, "--to-revision 2: must be between 1 and 1"),
        (
            iro("Succeeded", history=[{"revision": 1, "result": "RolledBack"}]),
            1,
            "production never ran it",
        ),
        (iro("Pending", revision=0), None, "nothing to undo"),
    ],
)
def test_undo_refusals(obj: Any, to: int | None, error: str) -> None:
    with pytest.raises(UserError, match=error.replace("(", r"\(").replace(")", r"\)")):
        plan_undo(obj, to_revision=to)


def test_pause_and_resume_of_a_rollout_toggle_the_paused_annotation() -> None:
    assert annotation(plan_pause(iro("Shifting"), IRO).body, "shakedown.dev/paused") == "true"
    paused = iro("Shifting", annotations={"shakedown.dev/paused": "true"})
    assert annotation(plan_resume(paused, IRO).body, "shakedown.dev/paused") is None
    with pytest.raises(UserError, match="not paused by `shakedown pause`"):
        plan_resume(iro("Shifting"), IRO)


def test_suspend_and_resume_of_a_refresh_write_spec_suspend() -> None:
    assert plan_suspend(cir(None), CIR).body == {"spec": {"suspend": True}}
    assert plan_resume(cir(None, suspend=True), CIR).body == {"spec": {"suspend": False}}
    with pytest.raises(UserError, match="shakedown suspend cir app"):
        plan_pause(cir(None), CIR)
    with pytest.raises(UserError, match="shakedown pause iro web"):
        plan_suspend(iro("Shifting"), IRO)


def test_undo_of_a_refresh_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["undo", "cir", "app"]) == 2
    assert capsys.readouterr().err == "shakedown: undo works on iro only, not cir\n"
