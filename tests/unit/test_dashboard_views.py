"""The dashboard's pure parts: view models, and HTML in which every field is escaped."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest

from shakedown.dashboard import actions, render, rollout_views, views

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def image(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "app", "namespace": "ci", "annotations": {}},
        "spec": {"image": "reg.example/ci/app", "tag": "stable"},
        "status": {
            "promotedDigest": D2,
            "history": [
                {"digest": D2, "promotedAt": "2026-11-30T04:00:00Z", "runId": "2"},
                {"digest": D1, "promotedAt": "2026-11-29T04:00:00Z", "runId": "1"},
            ],
            "lastRun": {
                "id": "3",
                "trigger": "Manual",
                "phase": "Failed",
                "startedAt": "2026-11-30T05:00:00Z",
                "finishedAt": "2026-11-30T05:01:05Z",
                "candidateDigest": D3,
                "failedTests": [
                    {
                        "name": "check",
                        "reason": "exit code 3",
                        "logTail": "".join(f"line {i}\n" for i in range(30)) + "FAIL: broken\n",
                    }
                ],
                "phases": [
                    {
                        "name": "Build",
                        "startedAt": "2026-11-30T05:00:00Z",
                        "finishedAt": "2026-11-30T05:00:40Z",
                    }
                ],
            },
            **status,
        },
    }


def test_an_image_shows_its_failed_scenario_with_the_end_of_its_log() -> None:
    view = views.image_view(image())
    assert (view.tag, view.promoted_digest, view.promoted_at) == (
        "stable",
        D2,
        "2026-11-30T04:00:00Z",
    )
    assert (view.last_phase, view.last_trigger) == ("Failed", "Manual")
    [run] = view.runs
    assert (run.id, run.total, run.phases) == ("3", "1m05s", [("Build", "40s")])
    [failed] = run.failed
    assert (failed.name, failed.reason) == ("check", "exit code 3")
    lines = failed.log_tail.splitlines()
    assert len(lines) == views.LOG_LINES and lines[-1] == "FAIL: broken"
    assert [(t.digest, t.current) for t in view.tags] == [(D2, True), (D1, False)]


def test_the_log_tail_comes_from_last_run_when_recent_runs_keep_none() -> None:
    obj = image()
    short = {**obj["status"]["lastRun"], "failedTests": [{"name": "check", "logTail": ""}]}
    older = {"id": "2", "trigger": "Spec", "phase": "Succeeded"}
    obj["status"]["recentRuns"] = [short, older]
    view = views.image_view(obj)
    assert [run.id for run in view.runs] == ["3", "2"]
    assert view.runs[0].failed[0].log_tail.endswith("FAIL: broken")


def test_a_request_the_operator_has_not_handled_yet_is_shown_until_it_has() -> None:
    obj = image(handledRollbackTo="")
    obj["metadata"]["annotations"]["shakedown.dev/rollback-to"] = D1
    assert views.image_view(obj).requests == [
        f"move of the tag to {D1} requested, waiting for the operator"
    ]
    obj["status"]["handledRollbackTo"] = D1
    obj["status"]["conditions"] = [
        {"type": "Rollback", "status": "True", "reason": "RolledBack", "message": "moved"}
    ]
    view = views.image_view(obj)
    assert view.requests == []
    assert (view.rollback_result, view.rollback_ok) == ("RolledBack: moved", True)


def rollout(phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "change", "namespace": "infra"},
        "spec": {
            "targets": [{"kind": "Deployment", "name": "web"}, {"kind": "ConfigMap", "name": "c"}],
            "strategy": {
                "type": "Canary",
                "canary": {"steps": [{"weight": 50}, {"pause": "1m"}, {"weight": 100}]},
            },
            "bake": "2m",
        },
        "status": {
            "phase": phase,
            "revision": 2,
            "snapshot": {
                "takenAt": "2026-11-30T05:00:00Z",
                "targets": [{"kind": "Deployment", "name": "web", "resourceVersion": "7"}],
            },
            "shadowNamespace": "infra-shadow-change-2",
            **status,
        },
    }


def stages(view: rollout_views.RolloutView) -> list[tuple[str, str]]:
    return [(s.name, s.state) for s in view.timeline]


def test_a_baking_rollout_has_every_earlier_stage_done() -> None:
    view = rollout_views.rollout_view(
        rollout("Baking", shiftStarted=True, currentStep=2), {("Deployment", "web"): "2/2 ready"}
    )
    assert stages(view) == [
        ("Snapshot", "done"),
        ("Shadow", "done"),
        ("Smoke checks", "done"),
        ("Shift", "done"),
        ("Bake", "active"),
    ]
    assert view.timeline[0].detail == "1 objects saved"
    assert (view.can_abort, view.can_promote) == (True, False)
    assert [(t.name, t.snapshot, t.live) for t in view.targets] == [
        ("web", "saved at resourceVersion 7", "2/2 ready"),
        ("c", "not saved yet", ""),
    ]
    assert [(s.label, s.state) for s in view.steps] == [
        ("50%", "done"),
        ("pause 1m", "done"),
        ("100%", "done"),
    ]


def test_a_paused_canary_can_be_promoted_and_shows_its_step() -> None:
    view = rollout_views.rollout_view(rollout("Shifting", shiftStarted=True, currentStep=1))
    assert view.can_promote and view.can_abort
    assert view.timeline[3].detail == "Canary, step 2 of 3"
    assert [s.state for s in view.steps] == ["done", "active", "pending"]


def test_a_rolled_back_rollout_ends_its_timeline_with_the_reason() -> None:
    view = rollout_views.rollout_view(
        rollout("RolledBack", shiftStarted=True, rollbackReason="Aborted by request")
    )
    assert stages(view)[-1] == ("Rolled back", "failed")
    assert view.timeline[-1].detail == "Aborted by request"
    assert not view.can_abort and not view.can_promote


def test_a_validated_prove_only_rollout_has_nothing_to_abort_and_skips_the_shift() -> None:
    view = rollout_views.rollout_view(rollout("Validated", message="proven; promote is false"))
    assert not view.can_abort and not view.can_promote
    assert stages(view)[:5] == [
        ("Snapshot", "done"),
        ("Shadow", "done"),
        ("Smoke checks", "done"),
        ("Shift", "skipped"),
        ("Bake", "skipped"),
    ]


def test_a_smoke_failure_marks_the_smoke_stage_and_skips_the_rest() -> None:
    view = rollout_views.rollout_view(
        rollout(
            "Failed",
            message="check index failed",
            checks=[{"name": "index", "type": "HTTP", "phase": "Failed", "message": "500"}],
        )
    )
    assert stages(view) == [
        ("Snapshot", "done"),
        ("Shadow", "done"),
        ("Smoke checks", "failed"),
        ("Shift", "skipped"),
        ("Bake", "skipped"),
        ("Failed", "failed"),
    ]


# --------------------------------------------------------------------------- escaping
HOSTILE = '<script>alert("x")</script>\'&<img src=x onerror=alert(1)>'


def hostile(value: Any) -> Any:
    """Every string in ``value`` replaced by one that tries to break out of HTML."""
    if isinstance(value, dict):
        return {k: hostile(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    return HOSTILE + value if isinstance(value, str) else value


class Tags(HTMLParser):
    """The tags and attribute names a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes |= {name for name, _ in attrs}

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def assert_escaped(markup: str, scripts: int = 0) -> None:
    parsed = Tags()
    parsed.feed(markup)
    assert "img" not in parsed.tags and parsed.tags.count("script") == scripts
    assert not any(name.startswith("on") for name in parsed.attributes)
    assert any(HOSTILE in text for text in parsed.texts), "shown as text, as it was written"


def test_every_field_of_an_image_is_escaped() -> None:
    obj = hostile(copy.deepcopy(image()))
    obj["status"]["currentRun"] = hostile(
        {"id": "4", "trigger": "Manual", "phase": "Testing", "tests": [{"name": "t"}]}
    )
    obj["status"]["conditions"] = hostile(
        [{"type": "Rollback", "status": "False", "reason": "R", "message": "m"}]
    )
    obj["status"]["conditions"][0]["type"] = "Rollback"
    markup = render.image_card(views.image_view(obj))
    assert_escaped(markup)
    assert markup.count("FAIL: broken") == 1


def test_every_field_of_a_rollout_and_the_page_are_escaped() -> None:
    obj = hostile(copy.deepcopy(rollout("Baking", shiftStarted=True, currentStep=0)))
    obj["status"]["phase"] = "Baking"
    obj["status"]["history"] = hostile([{"revision": 1, "result": "Failed", "reason": "r"}])
    obj["status"]["checks"] = hostile([{"name": "c", "type": "HTTP", "phase": "P", "message": "m"}])
    card = render.rollout_card(
        rollout_views.rollout_view(obj, {("Deployment", HOSTILE + "web"): HOSTILE})
    )
    assert_escaped(card)
    page = render.page(active="rollouts", scope=HOSTILE, token=HOSTILE, cards=[card])
    assert_escaped(page, scripts=1)  # the page's own script, and nothing else


# --------------------------------------------------------------------------- actions
def test_moving_the_tag_back_sets_the_annotation_the_cli_sets() -> None:
    patch = actions.plan("cir", "rollback", image(), {"digest": D1})
    assert patch.body == {"metadata": {"annotations": {"shakedown.dev/rollback-to": D1}}}
    assert D1 in patch.says


@pytest.mark.parametrize(
    ("kind", "verb", "form", "message"),
    [
        ("cir", "rollback", {"digest": D3}, "not in status.history"),
        ("cir", "rollback", {"digest": D2}, "already points to"),
        ("cir", "rollback", {"digest": "latest"}, "not a digest"),
        ("cir", "explode", {}, "unknown action cir/explode"),
        ("iro", "trigger", {}, "unknown action iro/trigger"),
    ],
)
def test_what_cannot_be_done_is_refused_in_words(
    kind: str, verb: str, form: dict[str, str], message: str
) -> None:
    with pytest.raises(actions.ActionError, match=message):
        actions.plan(kind, verb, image(), form)


def test_suspend_and_resume_patch_spec_suspend_as_the_cli_does() -> None:
    assert actions.plan("cir", "suspend", image(), {}).body == {"spec": {"suspend": True}}
    suspended = {**image(), "spec": {**image()["spec"], "suspend": True}}
    resumed = actions.plan("cir", "resume", suspended, {})
    assert resumed.body == {"spec": {"suspend": False}}
    assert resumed.says == "containerimagerefresh/app: resumed (spec.suspend=false)"
    with pytest.raises(actions.ActionError, match="not suspended"):
        actions.plan("cir", "resume", image(), {})


class Refusal(Exception):
    status = 403
    reason = "Forbidden"
    body = (
        '{"kind":"Status","message":"containerimagerefreshes.shakedown.dev \\"app\\" is '
        'forbidden: User \\"viewer\\" cannot patch resource","code":403}'
    )


def test_an_api_refusal_is_shown_in_the_api_servers_words() -> None:
    assert actions.api_message(Refusal()) == (
        '403 Forbidden: containerimagerefreshes.shakedown.dev "app" is forbidden: '
        'User "viewer" cannot patch resource'
    )
