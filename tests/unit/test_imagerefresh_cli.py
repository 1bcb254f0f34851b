"""The detailed view of one ContainerImageRefresh (``shakedown get cir NAME``)."""

from __future__ import annotations

from typing import Any

from shakedown.cli.describe_cir import describe_image_refresh

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def _obj() -> dict[str, Any]:
    run1 = {
        "id": "1",
        "trigger": "Spec",
        "phase": "Succeeded",
        "startedAt": "2026-11-25T12:00:00Z",
        "finishedAt": "2026-11-25T12:01:05Z",
        "candidateDigest": A,
        "phases": [
            {
                "name": "Build",
                "startedAt": "2026-11-25T12:00:00Z",
                "finishedAt": "2026-11-25T12:00:40Z",
            },
            {
                "name": "Test",
                "startedAt": "2026-11-25T12:00:40Z",
                "finishedAt": "2026-11-25T12:01:04Z",
            },
            {
                "name": "Promote",
                "startedAt": "2026-11-25T12:01:04Z",
                "finishedAt": "2026-11-25T12:01:05Z",
            },
        ],
    }
    run2 = {
        "id": "2",
        "trigger": "Manual",
        "phase": "Failed",
        "startedAt": "2026-11-25T13:00:00Z",
        "finishedAt": "2026-11-25T13:00:30Z",
        "candidateDigest": B,
        "failedTests": [
            {"name": "check", "reason": "exit code 3", "logTail": "line 1\nFAIL: widget\n"}
        ],
        "phases": [],
    }
    return {
        "metadata": {"name": "app", "namespace": "ci"},
        "spec": {
            "image": "reg/ci/app",
            "tag": "stable",
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
        },
        "status": {
            "promotedDigest": A,
            "candidateDigest": B,
            "nextRunAt": "2026-11-26T02:00:00Z",
            "lastRun": run2,
            "recentRuns": [
                {**run2, "failedTests": [{"name": "check", "reason": "exit code 3"}]},
                run1,
            ],
            "history": [{"digest": A, "promotedAt": "2026-11-25T12:01:05Z", "runId": "1"}],
        },
    }


def test_detail_view_shows_runs_durations_failures_and_history() -> None:
    text = "\n".join(describe_image_refresh(_obj()))
    assert f"reg/ci/app:stable -> {A}" in text
    assert "0 3 * * * (Europe/Berlin), next 2026-11-26T02:00:00Z" in text
    rows = [
        line.split()
        for line in text.splitlines()
        if line.startswith("  1 ") or line.startswith("  2 ")
    ]
    assert rows[0][:3] == ["2", "Manual", "Failed"]
    assert rows[1][:9] == [
        "1",
        "Spec",
        "Succeeded",
        "2026-11-25T12:00:00Z",
        "1m05s",
        "40s",
        "24s",
        "1s",
        "sha256:aaaaaaaaaaaa",
    ]
    assert "Failed scenarios (run 2):" in text
    assert "  check: exit code 3" in text and "    | FAIL: widget" in text
    assert f"  {A}  promoted 2026-11-25T12:01:05Z  run 1" in text


def test_detail_view_of_a_new_object() -> None:
    lines = describe_image_refresh({"spec": {"image": "reg/x"}, "status": {}})
    assert lines[1] == "Image:       reg/x:latest -> <never promoted>"
    assert not any(line.startswith("Runs:") for line in lines)


def test_wide_table_shows_candidate_and_run_time() -> None:
    from shakedown.cli.get import COLUMNS, render

    obj = _obj()
    obj["status"]["lastRun"] = obj["status"]["recentRuns"][1]  # run 1, 1m05s
    lines, _ = render([obj], COLUMNS["ContainerImageRefresh"])
    header = lines[0].split()
    assert "CANDIDATE" in header and "TIME" in header
    assert "sha256:bbbbbbbbbbbb" in lines[1] and "1m05s" in lines[1]
