"""View models: what the dashboard shows of an object, computed from the object alone.

This module holds what both kinds share and the ContainerImageRefresh view;
``rollout_views`` holds the InfraRollout one.

Pure functions of the object as the API server returns it (a mapping, with any
field missing or of an unexpected type), so the pages can be unit tested
without a cluster, and rendering never has to decide anything. Every string
here is still raw user input: ``render`` escapes all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shakedown.presentation.reading import condition, message, seconds_between
from shakedown.presentation.steering import ROLLBACK_TO, RUN_REQUESTED

Obj = Mapping[str, Any]

#: How many log lines of a failing scenario a card shows.
LOG_LINES = 20


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def annotation(obj: Obj, key: str) -> str:
    return as_text(as_map(as_map(obj.get("metadata")).get("annotations")).get(key))


def state(obj: Obj) -> str:
    """Stalled / Reconciling / Ready / NotReady from the kstatus conditions; ``-`` if none."""
    for type_ in ("Stalled", "Reconciling", "Ready"):
        if condition(obj, type_).get("status") == "True":
            return type_
    return "NotReady" if condition(obj, "Ready").get("status") == "False" else "-"


def card_id(kind: str, obj: Obj) -> str:
    """The element id of an object's card; unique per kind, namespace and name."""
    meta = as_map(obj.get("metadata"))
    return f"{kind}-{as_text(meta.get('namespace'))}-{as_text(meta.get('name'))}"


# --------------------------------------------------------------------------- images
@dataclass(frozen=True, kw_only=True)
class FailedScenario:
    name: str
    reason: str
    log_tail: str


@dataclass(frozen=True, kw_only=True)
class RunView:
    id: str
    trigger: str
    phase: str
    started_at: str
    total: str
    phases: list[tuple[str, str]]
    """(phase name, duration) in the order they ran."""
    digest: str
    failed: list[FailedScenario]
    message: str
    running: bool = False


@dataclass(frozen=True, kw_only=True)
class TagRow:
    digest: str
    promoted_at: str
    run_id: str
    current: bool


@dataclass(frozen=True, kw_only=True)
class ImageView:
    id: str
    namespace: str
    name: str
    image: str
    tag: str
    promoted_digest: str
    promoted_at: str
    state: str
    message: str
    suspended: bool
    schedule: str
    next_run_at: str
    last_phase: str
    last_trigger: str
    runs: list[RunView]
    tags: list[TagRow]
    rollback_result: str
    """What the operator said about the last rollback request (the Rollback condition)."""
    rollback_ok: bool
    requests: list[str] = field(default_factory=list)
    """Requests the operator has not handled yet, in words."""


def _run_view(run: Obj, *, running: bool = False) -> RunView:
    failed = [
        FailedScenario(
            name=as_text(f.get("name")),
            reason=as_text(f.get("reason")) or "failed",
            log_tail="\n".join(as_text(f.get("logTail")).rstrip().splitlines()[-LOG_LINES:]),
        )
        for f in map(as_map, as_list(run.get("failedTests")))
    ]
    if running:
        failed += [
            FailedScenario(
                name=as_text(t.get("name")),
                reason=as_text(t.get("reason")) or "failed",
                log_tail="\n".join(as_text(t.get("logTail")).rstrip().splitlines()[-LOG_LINES:]),
            )
            for t in map(as_map, as_list(run.get("tests")))
            if t.get("phase") in ("Failed", "Error")
        ]
    return RunView(
        id=as_text(run.get("id")),
        trigger=as_text(run.get("trigger")),
        phase=as_text(run.get("phase")),
        started_at=as_text(run.get("startedAt")),
        total=duration(seconds_between(run.get("startedAt"), run.get("finishedAt")))
        if not running
        else "running",
        phases=[
            (
                as_text(p.get("name")),
                duration(seconds_between(p.get("startedAt"), p.get("finishedAt")))
                if p.get("finishedAt") or not running
                else "running",
            )
            for p in map(as_map, as_list(run.get("phases")))
        ],
        digest=as_text(run.get("candidateDigest")),
        failed=failed,
        message=as_text(run.get("message")),
        running=running,
    )


def image_view(obj: Obj) -> ImageView:
    meta, spec, status = (as_map(obj.get(k)) for k in ("metadata", "spec", "status"))
    promoted = as_text(status.get("promotedDigest"))
    history = [as_map(h) for h in as_list(status.get("history"))]
    runs: list[RunView] = []
    current = as_map(status.get("currentRun"))
    if current:
        runs.append(_run_view(current, running=True))
    # recentRuns keeps runs without their log tails; lastRun keeps the last one whole.
    last = as_map(status.get("lastRun"))
    finished = [
        last if last and as_text(r.get("id")) == as_text(last.get("id")) else r
        for r in map(as_map, as_list(status.get("recentRuns")))
    ]
    if last and last not in finished:
        finished.insert(0, last)
    runs += [_run_view(r) for r in finished]
    rollback = condition(obj, "Rollback")
    requests = []
    run_requested = annotation(obj, RUN_REQUESTED)
    if run_requested and run_requested != as_text(status.get("handledRunRequest")):
        requests.append("run requested, waiting for the operator")
    rollback_to = annotation(obj, ROLLBACK_TO)
    if rollback_to and rollback_to != as_text(status.get("handledRollbackTo")):
        requests.append(
            f"move of the tag to {rollback_to.split(' ')[0]} requested, waiting for the operator"
        )
    promoted_at = next(
        (as_text(h.get("promotedAt")) for h in history if as_text(h.get("digest")) == promoted), ""
    )
    return ImageView(
        id=card_id("cir", obj),
        namespace=as_text(meta.get("namespace")),
        name=as_text(meta.get("name")),
        image=as_text(spec.get("image")),
        tag=as_text(spec.get("tag")) or "latest",
        promoted_digest=promoted,
        promoted_at=promoted_at,
        state=state(obj),
        message=message(obj),
        suspended=spec.get("suspend") is True,
        schedule=as_text(spec.get("schedule")),
        next_run_at=as_text(status.get("nextRunAt")),
        last_phase=as_text(last.get("phase")),
        last_trigger=as_text(last.get("trigger")),
        runs=runs,
        tags=[
            TagRow(
                digest=as_text(h.get("digest")),
                promoted_at=as_text(h.get("promotedAt")),
                run_id=as_text(h.get("runId")),
                current=as_text(h.get("digest")) == promoted,
            )
            for h in history
        ],
        rollback_result=(
            f"{as_text(rollback.get('reason'))}: {as_text(rollback.get('message'))}"
            if rollback
            else ""
        ),
        rollback_ok=rollback.get("status") == "True",
        requests=requests,
    )


def sort_key(obj: Obj) -> tuple[str, str]:
    meta = as_map(obj.get("metadata"))
    return (as_text(meta.get("namespace")), as_text(meta.get("name")))
