"""The detail view of one ContainerImageRefresh: runs, phases, digests, failures.

A pure function of the object (dict in, lines out), so ``shakedown get cir NAME``
and its ``--watch`` redraw print exactly what the unit tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shakedown.api.common import short_digest
from shakedown.presentation.reading import seconds_between

Obj = Mapping[str, Any]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _phase_time(run: Obj, name: str) -> str:
    for phase in run.get("phases") or []:
        if phase.get("name") == name:
            return duration(seconds_between(phase.get("startedAt"), phase.get("finishedAt")))
    return "-"


def describe_image_refresh(obj: Obj) -> list[str]:
    """Lines below the table for one ContainerImageRefresh: runs, phases, digests, failures."""
    status: Obj = obj.get("status") or {}
    spec: Obj = obj.get("spec") or {}
    lines = [""]
    image = f"{spec.get('image')}:{spec.get('tag', 'latest')}"
    lines.append(f"Image:       {image} -> {status.get('promotedDigest') or '<never promoted>'}")
    if status.get("candidateDigest"):
        lines.append(f"Candidate:   {status['candidateDigest']}")
    if spec.get("schedule"):
        lines.append(
            f"Schedule:    {spec['schedule']} ({spec.get('timeZone', 'UTC')}), "
            f"next {status.get('nextRunAt') or '-'}"
        )
    pending = status.get("pendingTriggers") or []
    if pending:
        lines.append("Pending:     " + ", ".join(str(p.get("trigger")) for p in pending))
    current: Obj = status.get("currentRun") or {}
    if current:
        lines.append(
            f"Running:     run {current.get('id')} {current.get('phase')} "
            f"({current.get('trigger')}, since {current.get('startedAt')}): "
            f"{current.get('message', '')}"
        )
        for test in current.get("tests") or []:
            reason = f" ({test['reason']})" if test.get("reason") else ""
            lines.append(f"  scenario {test.get('name')}: {test.get('phase')}{reason}")
    runs = list(status.get("recentRuns") or [])
    if not runs and status.get("lastRun"):
        runs = [status["lastRun"]]
    if runs:
        lines.append("Runs:")
        table = [
            ["RUN", "TRIGGER", "RESULT", "STARTED", "TOTAL", "BUILD", "TEST", "PROMOTE", "DIGEST"]
        ]
        for run in runs:
            table.append(
                [
                    str(run.get("id")),
                    str(run.get("trigger")),
                    str(run.get("phase")),
                    str(run.get("startedAt") or "-"),
                    duration(seconds_between(run.get("startedAt"), run.get("finishedAt"))),
                    _phase_time(run, "Build"),
                    _phase_time(run, "Test"),
                    _phase_time(run, "Promote"),
                    short_digest(run.get("candidateDigest")) or "-",
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            lines.append(
                "  " + "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
    last: Obj = status.get("lastRun") or {}
    if last.get("failedTests"):
        lines.append(f"Failed scenarios (run {last.get('id')}):")
        for failed in last["failedTests"]:
            lines.append(f"  {failed.get('name')}: {failed.get('reason') or 'failed'}")
            for log_line in str(failed.get("logTail") or "").rstrip().splitlines()[-10:]:
                lines.append(f"    | {log_line}")
    elif last.get("phase") == "Failed":
        lines.append(f"Failure (run {last.get('id')}):")
        for msg_line in str(last.get("message") or "").splitlines()[-12:]:
            lines.append(f"    | {msg_line}")
    history = status.get("history") or []
    if history:
        lines.append("History (rollback targets, newest first):")
        for entry in history:
            lines.append(
                f"  {entry.get('digest')}  promoted {entry.get('promotedAt')}"
                f"  run {entry.get('runId') or '-'}"
            )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Rollback":
            lines.append(f"Rollback:    {cond.get('reason')}: {cond.get('message')}")
    return lines
