"""The detail view of one InfraRollout, as a tree (like ``kubectl argo rollouts get``).

Revision and phase, the strategy's steps with the current one marked, the smoke
checks with their results, the targets and what the snapshot recorded of them,
the shadow namespace, why production was rolled back, and the history. A paused
canary says so and names what resumes it. Pure: object dict in, lines out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shakedown.api.annotations import PAUSED
from shakedown.api.common import parse_duration
from shakedown.presentation.reading import timestamp

Obj = Mapping[str, Any]

#: Marks in the tree: done, in progress, pending, failed.
MARKS = {"Passed": "✔", "Running": "◌", "Pending": "·", "Failed": "✖"}
RESULT_MARKS = {"Succeeded": "✔", "RolledBack": "↶", "Failed": "✖", "Aborted": "✖"}
IN_FLIGHT = {"Pending", "Snapshotting", "Shadowing", "SmokeTesting", "Shifting", "Baking"}


def pause_note(obj: Obj, *, now: datetime | None = None) -> str | None:
    """How the rollout is paused and what resumes it (``at canary step 2: ...``); None if not."""
    meta: Obj = obj.get("metadata") or {}
    status: Obj = obj.get("status") or {}
    name = meta.get("name", "NAME")
    if status.get("phase") != "Shifting":
        return None
    if str((meta.get("annotations") or {}).get(PAUSED, "")).lower() == "true":
        return f"by shakedown pause: resume with `shakedown resume iro {name}`"
    step = _current_pause(obj)
    if step is None:
        return None
    started = timestamp(status.get("stepStartedAt"))
    resume = f"`shakedown promote iro {name}`"
    if started is None:
        return f"at canary step {status.get('currentStep', 0) + 1}: {resume} resumes it"
    until = started + timedelta(seconds=parse_duration(step))
    left = until - (now or datetime.now(UTC))
    remaining = f", {_span(left.total_seconds())} left" if left.total_seconds() > 0 else ""
    return (
        f"at canary step {status.get('currentStep', 0) + 1}: resumes by itself at "
        f"{until:%Y-%m-%dT%H:%M:%SZ}{remaining}, or now with {resume}"
    )


def _current_pause(obj: Obj) -> str | None:
    steps = ((obj.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    index = (obj.get("status") or {}).get("currentStep")
    if index is None or not 0 <= index < len(steps):
        return None
    pause = steps[index].get("pause")
    return str(pause) if pause else None


def _span(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def step_lines(obj: Obj) -> list[str]:
    """The strategy and its steps, the current one marked."""
    spec: Obj = obj.get("spec") or {}
    status: Obj = obj.get("status") or {}
    strategy: Obj = spec.get("strategy") or {}
    kind = strategy.get("type", "Replace")
    if kind != "Canary":
        detail = ""
        if kind == "BlueGreen":
            service = (strategy.get("blueGreen") or {}).get("service")
            detail = f" (switches Service {service})" if service else ""
        return [f"Strategy:   {kind}{detail}"]
    steps = (strategy.get("canary") or {}).get("steps") or []
    current = status.get("currentStep")
    phase = status.get("phase")
    lines = [f"Strategy:   Canary, step {_step_of(current, len(steps), phase)}"]
    for i, step in enumerate(steps):
        what = f"setWeight {step['weight']}" if "weight" in step else f"pause {step.get('pause')}"
        mark = _step_mark(i, current, phase)
        lines.append(f"  {'└' if i == len(steps) - 1 else '├'}── {mark} {i + 1}. {what}")
    return lines


def _step_mark(index: int, current: int | None, phase: str | None) -> str:
    if phase in ("Baking", "Succeeded"):
        return "✔"
    if current is None or phase not in ("Shifting", "RollingBack", "RolledBack", "Failed"):
        return "·"
    if index < current:
        return "✔"
    if index == current:
        return "◌" if phase == "Shifting" else "✖"
    return "·"


def _step_of(current: int | None, total: int, phase: str | None) -> str:
    if phase in ("Baking", "Succeeded"):
        return f"{total}/{total}"
    if current is None:
        return f"0/{total}"
    return f"{min(current + 1, total)}/{total}"


def check_lines(obj: Obj) -> list[str]:
    """Smoke checks as recorded in status.checks (readiness, HTTP, Job, metric)."""
    checks: Sequence[Obj] = (obj.get("status") or {}).get("checks") or []
    if not checks:
        return []
    lines = ["Checks:"]
    for i, check in enumerate(checks):
        branch = "└" if i == len(checks) - 1 else "├"
        phase = str(check.get("phase", "Pending"))
        counts = ""
        if check.get("successes") or check.get("failures"):
            counts = f" ({check.get('successes', 0)} ok, {check.get('failures', 0)} failed)"
        job = f" job {check['job']}" if check.get("job") else ""
        text = str(check.get("message") or "").splitlines()
        lines.append(
            f"  {branch}── {MARKS.get(phase, '?')} {check.get('type', '?')} {check.get('name')}: "
            f"{phase}{counts}{job}" + (f": {text[0]}" if text else "")
        )
    return lines


def target_lines(obj: Obj) -> list[str]:
    """Targets, and what the snapshot recorded of each (its version, or that it did not exist)."""
    targets: Sequence[Obj] = (obj.get("spec") or {}).get("targets") or []
    snap: Obj = (obj.get("status") or {}).get("snapshot") or {}
    recorded = {(t.get("kind"), t.get("name")): t for t in snap.get("targets") or []}
    lines = ["Targets:"]
    for i, target in enumerate(targets):
        branch = "└" if i == len(targets) - 1 else "├"
        entry = recorded.get((target.get("kind"), target.get("name")))
        if entry is None:
            state = "not snapshotted yet"
        elif entry.get("existed") is False:
            state = "did not exist before (a rollback deletes it)"
        else:
            version = entry.get("resourceVersion")
            state = f"snapshotted at resourceVersion {version}" if version else "snapshotted"
        lines.append(f"  {branch}── {target.get('kind')}/{target.get('name')}: {state}")
    where = snap.get("secret") or snap.get("configMap")
    if where:
        lines.append(f"Snapshot:   {where} (taken {snap.get('takenAt') or '?'})")
    return lines


def history_lines(obj: Obj) -> list[str]:
    history: Sequence[Obj] = (obj.get("status") or {}).get("history") or []
    if not history:
        return []
    lines = ["History (newest first):"]
    for entry in history:
        result = str(entry.get("result"))
        reason = str(entry.get("reason") or "").splitlines()
        lines.append(
            f"  {RESULT_MARKS.get(result, '?')} revision {entry.get('revision')}  {result:<10}  "
            f"{entry.get('finishedAt') or '-'}  change {entry.get('changeHash') or '-'}"
            + (f"  {reason[0]}" if reason else "")
        )
    return lines


def describe_infra_rollout(obj: Obj, *, now: datetime | None = None) -> list[str]:
    """Lines below the table for one InfraRollout."""
    meta: Obj = obj.get("metadata") or {}
    status: Obj = obj.get("status") or {}
    lines = [
        "",
        f"Name:       {meta.get('name')}",
        f"Namespace:  {meta.get('namespace')}",
        f"Revision:   {status.get('revision', 0)}"
        + (f" (change {status['changeHash']})" if status.get("changeHash") else ""),
        f"Phase:      {status.get('phase', 'Pending')}"
        + (f" since {status['phaseStartedAt']}" if status.get("phaseStartedAt") else ""),
    ]
    paused = pause_note(obj, now=now)
    if paused:
        lines.append(f"Paused:     {paused}")
    elif status.get("waitingFor"):
        lines.append(f"Waiting:    {status['waitingFor']}")
    if status.get("message"):
        lines.append(f"Message:    {status['message']}")
    for image in status.get("resolvedImages") or []:
        lines.append(f"Image:      {image.get('container')} -> {image.get('image')}")
    lines += step_lines(obj)
    shadow = status.get("shadowNamespace")
    if shadow:
        expires = status.get("shadowExpiresAt")
        lines.append(f"Shadow:     {shadow}" + (f" (expires {expires})" if expires else ""))
    lines += check_lines(obj)
    lines += target_lines(obj)
    if status.get("rollbackReason"):
        lines.append(f"Rollback:   {status['rollbackReason']}")
    if status.get("undoRevision"):
        lines.append(f"Undo:       to the snapshot of revision {status['undoRevision']}")
    lines += history_lines(obj)
    return lines
