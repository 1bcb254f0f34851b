"""View models: what the dashboard shows of an object, computed from the object alone.

Pure functions of the object as the API server returns it (a mapping, with any
field missing or of an unexpected type), so the pages can be unit tested
without a cluster, and rendering never has to decide anything. Every string
here is still raw user input: ``render`` escapes all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shakedown.cli.get import condition, message, path
from shakedown.cli.steer import ABORT, PROMOTE, ROLLBACK_TO, RUN_REQUESTED

Obj = Mapping[str, Any]

#: How many log lines of a failing scenario a card shows.
LOG_LINES = 20


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_between(start: Any, end: Any) -> float | None:
    begin, finish = _when(start), _when(end)
    if begin is None or finish is None:
        return None
    return max(0.0, (finish - begin).total_seconds())


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _annotation(obj: Obj, key: str) -> str:
    return _str(_map(_map(obj.get("metadata")).get("annotations")).get(key))


def state(obj: Obj) -> str:
    """Stalled / Reconciling / Ready / NotReady from the kstatus conditions; ``-`` if none."""
    for type_ in ("Stalled", "Reconciling", "Ready"):
        if condition(obj, type_).get("status") == "True":
            return type_
    return "NotReady" if condition(obj, "Ready").get("status") == "False" else "-"


def card_id(kind: str, obj: Obj) -> str:
    """The element id of an object's card; unique per kind, namespace and name."""
    meta = _map(obj.get("metadata"))
    return f"{kind}-{_str(meta.get('namespace'))}-{_str(meta.get('name'))}"


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
            name=_str(f.get("name")),
            reason=_str(f.get("reason")) or "failed",
            log_tail="\n".join(_str(f.get("logTail")).rstrip().splitlines()[-LOG_LINES:]),
        )
        for f in map(_map, _list(run.get("failedTests")))
    ]
    if running:
        failed += [
            FailedScenario(
                name=_str(t.get("name")),
                reason=_str(t.get("reason")) or "failed",
                log_tail="\n".join(_str(t.get("logTail")).rstrip().splitlines()[-LOG_LINES:]),
            )
            for t in map(_map, _list(run.get("tests")))
            if t.get("phase") in ("Failed", "Error")
        ]
    return RunView(
        id=_str(run.get("id")),
        trigger=_str(run.get("trigger")),
        phase=_str(run.get("phase")),
        started_at=_str(run.get("startedAt")),
        total=duration(seconds_between(run.get("startedAt"), run.get("finishedAt")))
        if not running
        else "running",
        phases=[
            (
                _str(p.get("name")),
                duration(seconds_between(p.get("startedAt"), p.get("finishedAt")))
                if p.get("finishedAt") or not running
                else "running",
            )
            for p in map(_map, _list(run.get("phases")))
        ],
        digest=_str(run.get("candidateDigest")),
        failed=failed,
        message=_str(run.get("message")),
        running=running,
    )


def image_view(obj: Obj) -> ImageView:
    meta, spec, status = (_map(obj.get(k)) for k in ("metadata", "spec", "status"))
    promoted = _str(status.get("promotedDigest"))
    history = [_map(h) for h in _list(status.get("history"))]
    runs: list[RunView] = []
    current = _map(status.get("currentRun"))
    if current:
        runs.append(_run_view(current, running=True))
    # recentRuns keeps runs without their log tails; lastRun keeps the last one whole.
    last = _map(status.get("lastRun"))
    finished = [
        last if last and _str(r.get("id")) == _str(last.get("id")) else r
        for r in map(_map, _list(status.get("recentRuns")))
    ]
    if last and last not in finished:
        finished.insert(0, last)
    runs += [_run_view(r) for r in finished]
    rollback = condition(obj, "Rollback")
    requests = []
    run_requested = _annotation(obj, RUN_REQUESTED)
    if run_requested and run_requested != _str(status.get("handledRunRequest")):
        requests.append("run requested, waiting for the operator")
    rollback_to = _annotation(obj, ROLLBACK_TO)
    if rollback_to and rollback_to != _str(status.get("handledRollbackTo")):
        requests.append(
            f"move of the tag to {rollback_to.split(' ')[0]} requested, waiting for the operator"
        )
    promoted_at = next(
        (_str(h.get("promotedAt")) for h in history if _str(h.get("digest")) == promoted), ""
    )
    return ImageView(
        id=card_id("cir", obj),
        namespace=_str(meta.get("namespace")),
        name=_str(meta.get("name")),
        image=_str(spec.get("image")),
        tag=_str(spec.get("tag")) or "latest",
        promoted_digest=promoted,
        promoted_at=promoted_at,
        state=state(obj),
        message=message(obj),
        suspended=spec.get("suspend") is True,
        schedule=_str(spec.get("schedule")),
        next_run_at=_str(status.get("nextRunAt")),
        last_phase=_str(last.get("phase")),
        last_trigger=_str(last.get("trigger")),
        runs=runs,
        tags=[
            TagRow(
                digest=_str(h.get("digest")),
                promoted_at=_str(h.get("promotedAt")),
                run_id=_str(h.get("runId")),
                current=_str(h.get("digest")) == promoted,
            )
            for h in history
        ],
        rollback_result=(
            f"{_str(rollback.get('reason'))}: {_str(rollback.get('message'))}" if rollback else ""
        ),
        rollback_ok=rollback.get("status") == "True",
        requests=requests,
    )


# --------------------------------------------------------------------------- rollouts
#: The stages of one revision, in order, and the phase that runs each.
STAGES: tuple[tuple[str, str], ...] = (
    ("Snapshot", "Snapshotting"),
    ("Shadow", "Shadowing"),
    ("Smoke checks", "SmokeTesting"),
    ("Shift", "Shifting"),
    ("Bake", "Baking"),
)
FINISHED = ("Succeeded", "RolledBack", "Failed", "Aborted")


@dataclass(frozen=True, kw_only=True)
class Stage:
    name: str
    state: str
    """done, active, failed, pending or skipped."""
    detail: str


@dataclass(frozen=True, kw_only=True)
class Step:
    label: str
    state: str
    """done, active or pending."""


@dataclass(frozen=True, kw_only=True)
class CheckView:
    name: str
    type: str
    phase: str
    message: str


@dataclass(frozen=True, kw_only=True)
class TargetView:
    kind: str
    name: str
    snapshot: str
    live: str


@dataclass(frozen=True, kw_only=True)
class RevisionRow:
    revision: str
    result: str
    started_at: str
    took: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RolloutView:
    id: str
    namespace: str
    name: str
    phase: str
    revision: str
    state: str
    message: str
    strategy: str
    shadow_namespace: str
    waiting_for: str
    rollback_reason: str
    timeline: list[Stage]
    steps: list[Step]
    """A canary's steps; empty for the other strategies."""
    checks: list[CheckView]
    targets: list[TargetView]
    revisions: list[RevisionRow]
    can_promote: bool
    can_abort: bool
    requests: list[str] = field(default_factory=list)


def _failed_stage(status: Obj) -> str:
    """The phase a revision that Failed before shifting stopped in."""
    if status.get("shiftStarted") is True:
        return "Shifting"
    if any(_map(c).get("phase") == "Failed" for c in _list(status.get("checks"))):
        return "SmokeTesting"
    if not _map(status.get("snapshot")).get("takenAt"):
        return "Snapshotting"
    return "Shadowing" if not status.get("shadowNamespace") else "SmokeTesting"


def _stage_detail(phase: str, spec: Obj, status: Obj) -> str:
    if phase == "Snapshotting":
        snapshot = _map(status.get("snapshot"))
        count = len(_list(snapshot.get("targets")))
        return f"{count} objects saved" if snapshot.get("takenAt") else ""
    if phase == "Shadowing":
        return _str(status.get("shadowNamespace"))
    if phase == "SmokeTesting":
        checks = [_map(c) for c in _list(status.get("checks"))]
        if not checks:
            return ""
        passed = sum(1 for c in checks if c.get("phase") == "Passed")
        return f"{passed}/{len(checks)} passed"
    if phase == "Shifting":
        strategy = _map(spec.get("strategy"))
        kind = _str(strategy.get("type")) or "Replace"
        steps = _list(_map(strategy.get("canary")).get("steps"))
        step = status.get("currentStep")
        if kind == "Canary" and steps and isinstance(step, int):
            return f"Canary, step {min(step + 1, len(steps))} of {len(steps)}"
        return kind
    if phase == "Baking":
        return f"{_str(spec.get('bake')) or '5m'} watching production"
    return ""


def timeline(spec: Obj, status: Obj) -> list[Stage]:
    """The current revision's stages with their state, and its end when it ended."""
    phase = _str(status.get("phase")) or "Pending"
    order = [p for _, p in STAGES]
    shifted = status.get("shiftStarted") is True
    if phase in order:
        reached, broken = order.index(phase), None
    elif phase in ("RollingBack", "RolledBack", "Aborted"):
        reached, broken = (order.index("Baking") if shifted else order.index("Shifting")), None
    elif phase == "Failed":
        reached = order.index(_failed_stage(status))
        broken = reached
    elif phase == "Succeeded":
        reached, broken = len(order), None
    else:
        reached, broken = -1, None
    stages = []
    for index, (name, stage_phase) in enumerate(STAGES):
        if index == broken:
            state = "failed"
        elif index < reached:
            state = "done"
        elif index == reached:
            state = "done" if phase in ("RollingBack", "RolledBack", "Aborted") else "active"
        else:
            state = "skipped" if phase in FINISHED or phase == "RollingBack" else "pending"
        stages.append(
            Stage(
                name=name,
                state=state,
                detail=_stage_detail(stage_phase, spec, status) if state != "pending" else "",
            )
        )
    reason = _str(status.get("rollbackReason"))
    if phase == "RollingBack":
        stages.append(Stage(name="Rolling back", state="active", detail=reason))
    elif phase in ("RolledBack", "Aborted"):
        stages.append(Stage(name="Rolled back", state="failed", detail=reason))
    elif phase == "Failed":
        stages.append(Stage(name="Failed", state="failed", detail=_str(status.get("message"))))
    elif phase == "Succeeded":
        stages.append(Stage(name="Succeeded", state="done", detail=""))
    return stages


def canary_steps(spec: Obj, status: Obj) -> list[Step]:
    """Each canary step (``50%``, ``pause 10m``) and whether the rollout passed it."""
    strategy = _map(spec.get("strategy"))
    if strategy.get("type") != "Canary":
        return []
    current = status.get("currentStep")
    phase = _str(status.get("phase"))
    shifted = status.get("shiftStarted") is True
    steps = []
    for index, step in enumerate(map(_map, _list(_map(strategy.get("canary")).get("steps")))):
        if step.get("weight") is not None:
            label = f"{_str(step.get('weight'))}%"
        else:
            label = f"pause {_str(step.get('pause')) or 'until promoted'}"
        if not shifted or not isinstance(current, int):
            where = "pending"
        elif phase != "Shifting" or index < current:
            where = "done"
        else:
            where = "active" if index == current else "pending"
        steps.append(Step(label=label, state=where))
    return steps


def rollout_view(obj: Obj, live: Mapping[tuple[str, str], str] | None = None) -> RolloutView:
    """``live`` maps (kind, name) of a target to what was observed of it (e.g. ``2/2 ready``)."""
    meta, spec, status = (_map(obj.get(k)) for k in ("metadata", "spec", "status"))
    live = live or {}
    phase = _str(status.get("phase")) or "Pending"
    snapshot = {
        (_str(t.get("kind")), _str(t.get("name"))): _map(t)
        for t in map(_map, _list(_map(status.get("snapshot")).get("targets")))
    }
    targets = []
    for target in map(_map, _list(spec.get("targets"))):
        key = (_str(target.get("kind")), _str(target.get("name")))
        saved = snapshot.get(key)
        if saved is None:
            snap = "not saved yet"
        elif saved.get("existed") is False:
            snap = "did not exist"
        else:
            version = _str(saved.get("resourceVersion"))
            snap = f"saved at resourceVersion {version}" if version else "saved"
        targets.append(TargetView(kind=key[0], name=key[1], snapshot=snap, live=live.get(key, "")))
    requests = []
    for annotation, handled, words in (
        (ABORT, "handledAbort", "abort requested, waiting for the operator"),
        (PROMOTE, "handledPromote", "promote requested, waiting for the operator"),
    ):
        value = _annotation(obj, annotation)
        if value and value != _str(status.get(handled)):
            requests.append(words)
    history = [_map(h) for h in _list(status.get("history"))]
    return RolloutView(
        id=card_id("iro", obj),
        namespace=_str(meta.get("namespace")),
        name=_str(meta.get("name")),
        phase=phase,
        revision=_str(status.get("revision")),
        state=state(obj),
        message=_str(status.get("message")) or message(obj),
        strategy=_str(path(obj, "spec.strategy.type")) or "Replace",
        shadow_namespace=_str(status.get("shadowNamespace")),
        waiting_for=_str(status.get("waitingFor")),
        rollback_reason=_str(status.get("rollbackReason")),
        timeline=timeline(spec, status),
        steps=canary_steps(spec, status),
        checks=[
            CheckView(
                name=_str(c.get("name")),
                type=_str(c.get("type")),
                phase=_str(c.get("phase")),
                message=_str(c.get("message")),
            )
            for c in map(_map, _list(status.get("checks")))
        ],
        targets=targets,
        revisions=[
            RevisionRow(
                revision=_str(h.get("revision")),
                result=_str(h.get("result")),
                started_at=_str(h.get("startedAt")),
                took=duration(seconds_between(h.get("startedAt"), h.get("finishedAt"))),
                reason=_str(h.get("reason")),
            )
            for h in history
        ],
        can_promote=phase == "Shifting",
        can_abort=phase not in (*FINISHED, "RollingBack") and bool(status.get("revision")),
        requests=requests,
    )


def workload_state(obj: Obj | None) -> str:
    """What a target workload looks like now: ``2/2 ready``, ``gone``."""
    if obj is None:
        return "not found"
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    if "desiredNumberScheduled" in status:  # a DaemonSet
        return f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled')} ready"
    want = spec.get("replicas", 1)
    return f"{status.get('readyReplicas', 0) or 0}/{want} ready"


def sort_key(obj: Obj) -> tuple[str, str]:
    meta = _map(obj.get("metadata"))
    return (_str(meta.get("namespace")), _str(meta.get("name")))


def by_name(objects: Sequence[Obj]) -> list[Obj]:
    return sorted(objects, key=sort_key)
