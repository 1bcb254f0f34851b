"""``shakedown logs``: which run, which pods in which order, and the tails kept in status."""

from __future__ import annotations

from typing import Any

import pytest

from shakedown.cli.logs import job_check, order_pods, pick_run, pod_title, run_selector, run_tails
from shakedown.cli.main import UserError, main


def cir(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "app"}, "status": status}


def pod(name: str, step: str, scenario: str = "", created: str = "2026-01-01T00:00:00Z") -> Any:
    labels = {"shakedown.dev/step": step}
    if scenario:
        labels["shakedown.dev/scenario"] = scenario
    return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created}}


def test_the_current_run_is_shown_unless_one_is_named() -> None:
    obj = cir(currentRun={"id": "8"}, lastRun={"id": "7"}, recentRuns=[{"id": "7"}, {"id": "6"}])
    assert pick_run(obj, None) == "8"
    assert pick_run(cir(lastRun={"id": "7"}), None) == "7"
    assert pick_run(obj, "6") == "6"
    with pytest.raises(UserError, match=r"--run 3: not a run of app \(known: 8, 7, 6\)"):
        pick_run(obj, "3")
    with pytest.raises(UserError, match="has no runs yet"):
        pick_run(cir(), None)


def test_selector_names_the_run_and_optionally_one_scenario() -> None:
    assert run_selector("app", "7", None) == (
        "shakedown.dev/containerimagerefresh=app,shakedown.dev/run=7"
    )
    assert run_selector("app", "7", "smoke").endswith(
        ",shakedown.dev/step=test,shakedown.dev/scenario=smoke"
    )


def test_build_comes_first_then_tests_by_scenario() -> None:
    pods = [pod("t-b", "test", "b"), pod("t-a", "test", "a"), pod("build", "build")]
    assert [p["metadata"]["name"] for p in order_pods(pods)] == ["build", "t-a", "t-b"]
    assert pod_title(pods[1]) == "==> test a (pod t-a) <=="


def test_tails_kept_in_status_when_the_pods_are_gone() -> None:
    obj = cir(
        lastRun={
            "id": "7",
            "phase": "Failed",
            "message": "tests failed",
            "failedTests": [
                {"name": "smoke", "logTail": "boom\n"},
                {"name": "unit", "logTail": "ok"},
            ],
        }
    )
    assert [t.title for t in run_tails(obj, "7", None)] == [
        "==> test smoke (kept in status) <==",
        "==> test unit (kept in status) <==",
    ]
    assert [t.text for t in run_tails(obj, "7", "smoke")] == ["boom\n"]
    build_failed = cir(lastRun={"id": "2", "phase": "Failed", "message": "build: exit 1"})
    assert [t.text for t in run_tails(build_failed, "2", None)] == ["build: exit 1"]
    assert run_tails(obj, "6", None) == []


def iro(*checks: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "status": {"revision": 3, "shadowNamespace": "prod-shadow-web-3", "checks": list(checks)},
    }


def test_a_job_check_is_found_in_the_shadow_namespace() -> None:
    obj = iro({"name": "migrate", "type": "Job", "job": "shakedown-job-migrate-r3"})
    assert job_check(obj, "migrate") == ("prod-shadow-web-3", "shakedown-job-migrate-r3")
    unnamed = iro({"name": "migrate", "type": "Job"})
    assert job_check(unnamed, "migrate")[1] == "shakedown-job-migrate-r3"


def test_other_checks_have_no_logs_and_say_their_result() -> None:
    obj = iro({"name": "home", "type": "HTTP", "phase": "Failed", "message": "got 503"})
    with pytest.raises(UserError, match=r"home is a HTTP check.*Failed: got 503"):
        job_check(obj, "home")
    with pytest.raises(UserError, match=r"no check 'nope' in revision 3 \(checks: home\)"):
        job_check(obj, "nope")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["logs", "iro", "web"], "logs iro NAME needs --check NAME"),
        (["logs", "cir", "app", "--check", "x"], "--check is for iro"),
        (["logs", "iro", "web", "--check", "x", "--run", "1"], "--run and --test are for cir"),
    ],
)
def test_wrong_options_are_one_line(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"shakedown: {error}")
