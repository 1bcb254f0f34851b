"""Judging prove-only copies, and the summary and JUnit XML a CI system reads (no cluster)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from shakedown.presentation.prove_report import (
    Outcome,
    Verdict,
    exit_code,
    failure_report,
    observe,
    progress_line,
    render_junit,
    render_summary,
)

T0, T1 = "2026-11-30T08:00:00Z", "2026-11-30T08:00:12Z"


def rollout(phase: str, revision: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "phase": phase, "revision": revision, **status},
    }


def refresh(current: Any = None, last: Any = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "currentRun": current, "lastRun": last, **status},
    }


IRO = Outcome("InfraRollout", "web", "web-42", "prod", "pr/web.yaml#1")
CIR = Outcome("ContainerImageRefresh", "tests", "tests-42", "ci", "pr/cir.yaml#1")


def test_status_of_an_older_generation_says_nothing() -> None:
    obj = rollout("Validated")
    obj["status"]["observedGeneration"] = 0
    assert observe(IRO, obj).verdict is Verdict.PENDING


def test_a_rollout_is_proven_when_validated_and_failed_when_it_ends_otherwise() -> None:
    checks = [
        {"name": "ready", "type": "Readiness", "phase": "Passed", "startedAt": T0, "finishedAt": T1}
    ]
    proven = observe(IRO, rollout("Validated", checks=checks))
    assert proven.verdict is Verdict.PROVEN
    assert proven.scenarios[0].seconds == 12
    for phase in ("Failed", "RolledBack", "Aborted"):
        assert observe(IRO, rollout(phase)).verdict is Verdict.FAILED
    assert observe(IRO, rollout("SmokeTesting")).verdict is Verdict.PENDING
    # Before the first revision a finished-looking phase means nothing yet.
    assert observe(IRO, rollout("Pending", revision=0)).verdict is Verdict.PENDING


def test_a_stalled_rollout_fails_with_the_condition_message() -> None:
    stalled = {"type": "Stalled", "status": "True", "message": "spec.targets[0].kind: nope"}
    out = observe(IRO, rollout("Pending", revision=0, conditions=[stalled]))
    assert out.verdict is Verdict.FAILED
    assert "spec.targets[0].kind: nope" in out.message


def test_a_refresh_keeps_the_scenarios_it_saw_running_after_the_run_ends() -> None:
    running = {
        "id": "1",
        "phase": "Testing",
        "tests": [
            {"name": "a", "phase": "Passed", "startedAt": T0, "finishedAt": T1},
            {"name": "b", "phase": "Running", "startedAt": T0},
        ],
    }
    seen = observe(CIR, refresh(current=running))
    assert seen.verdict is Verdict.PENDING
    failed_last = {
        "id": "1",
        "phase": "Failed",
        "message": "test b failed",
        "failedTests": [{"name": "b", "reason": "exit code 3", "logTail": "boom\n"}],
    }
    out = observe(seen, refresh(last=failed_last))
    assert out.verdict is Verdict.FAILED
    assert [(s.name, s.phase, s.log_tail) for s in out.scenarios] == [
        ("a", "Passed", ""),
        ("b", "Failed", "boom\n"),
    ]
    ended = "2026-11-30T08:00:20Z"
    proven = observe(seen, refresh(last={"id": "1", "phase": "Validated", "finishedAt": ended}))
    assert proven.verdict is Verdict.PROVEN
    assert [s.phase for s in proven.scenarios] == ["Passed", "Passed"]
    # b's end time went with the run; the run's end bounds it.
    assert [s.seconds for s in proven.scenarios] == [12, 20]


def test_exit_codes() -> None:
    proven = observe(IRO, rollout("Validated"))
    failed = observe(IRO, rollout("Failed"))
    assert exit_code([proven, proven]) == 0
    assert exit_code([proven, failed, IRO]) == 1
    assert exit_code([proven, IRO]) == 2
    assert exit_code([]) == 2


def test_progress_lines_name_the_object_phase_and_checks() -> None:
    checks = [{"name": "ready", "type": "Readiness", "phase": "Running"}]
    line = progress_line(observe(IRO, rollout("SmokeTesting", checks=checks)), 14.2)
    assert line.startswith("[   14s] iro/web")
    assert "SmokeTesting" in line and "ready Running" in line


def failed_cir() -> Outcome:
    last = {
        "id": "1",
        "phase": "Failed",
        "message": "1 of 1 tests failed",
        "failedTests": [
            {"name": "smoke", "reason": "exit code 1", "logTail": "line 1\nfatal: broken | here\n"}
        ],
    }
    return observe(CIR, refresh(last=last))


def test_failure_report_shows_the_failing_scenario_and_its_log_tail() -> None:
    text = "\n".join(failure_report(failed_cir()))
    assert "test smoke Failed: exit code 1" in text
    assert "| fatal: broken | here" in text


def test_summary_has_a_table_and_the_failing_tails() -> None:
    proven = observe(IRO, rollout("Validated"))
    text = render_summary([proven, failed_cir()], prove_id="pr-42", note="")
    assert text.startswith("## shakedown prove `pr-42`: failed")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 2
    assert "`iro/web`" in rows[0] and "Proven" in rows[0]
    assert "`cir/tests`" in rows[1] and "Failed" in rows[1] and "0/1 passed" in rows[1]
    assert "fatal: broken | here" in text  # in a code block, unescaped


def test_junit_parses_and_counts_cases_and_failures() -> None:
    proven = observe(
        IRO,
        rollout("Validated", checks=[{"name": "ready", "type": "Readiness", "phase": "Passed"}]),
    )
    xml = render_junit([proven, failed_cir(), IRO], prove_id="pr-42")
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "1")
    assert [s.get("name") for s in root.iter("testsuite")] == ["iro/web", "cir/tests", "iro/web"]
    failure = root.find(".//testcase[@name='smoke']/failure")
    assert failure is not None and "fatal: broken" in (failure.text or "")
    assert failure.get("message") == "exit code 1"
    pending = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert [c.get("name") for c in pending] == ["web"]


def test_a_multi_line_message_stays_one_progress_line_and_is_indented_in_the_report() -> None:
    out = observe(IRO, rollout("Failed", message="exit code 4 (Error: draining\nmarker)"))
    line = progress_line(out, 3)
    assert "\n" not in line and "draining ⏎ marker" in line
    assert failure_report(out) == [
        "iro/web (prod/web-42) Failed: exit code 4 (Error: draining",
        "    marker)",
    ]


def test_a_run_that_ended_before_the_cli_looked_still_lists_every_scenario_it_passed() -> None:
    # The build and the test Job took under a second: the first status read already
    # says Validated, and a finished run keeps only its failures.
    obj = refresh(last={"id": "1", "phase": "Validated", "finishedAt": T1})
    obj["spec"] = {"tests": [{"name": "smoke"}, {"name": "lint"}]}
    out = observe(CIR, obj)
    assert out.verdict is Verdict.PROVEN
    assert [(s.name, s.phase) for s in out.scenarios] == [("smoke", "Passed"), ("lint", "Passed")]
    root = ET.fromstring(render_junit([out], prove_id="pr-42"))
    cases = {(c.get("classname"), c.get("name")) for c in root.iter("testcase")}
    assert {("cir.tests", "smoke"), ("cir.tests", "lint")} <= cases
