"""The InfraRollout view model: the current revision as a timeline, checks, targets.

Pure, like ``views``: the object (and what was observed of its target
workloads) in, a frozen view out. The timeline is derived from status alone:
the phase says how far the revision got, ``shiftStarted`` whether production
was touched, the snapshot, shadow namespace and checks fill in the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shakedown.api.infrarollout.status import RolloutPhase
from shakedown.dashboard.views import (
    Obj,
    annotation,
    as_list,
    as_map,
    as_text,
    card_id,
    duration,
    state,
)
from shakedown.presentation.reading import message, path, seconds_between
from shakedown.presentation.steering import ABORT, PROMOTE

#: The stages of one revision, in order, and the phase that runs each.
STAGES: tuple[tuple[str, str], ...] = (
    ("Snapshot", "Snapshotting"),
    ("Shadow", "Shadowing"),
    ("Smoke checks", "SmokeTesting"),
    ("Shift", "Shifting"),
    ("Bake", "Baking"),
)
#: The phases that end a revision, as the API declares them (Validated, a prove-only
#: revision's end, included: nothing is left to abort).
FINISHED = tuple(phase.value for phase in RolloutPhase if phase.finished)


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
    if any(as_map(c).get("phase") == "Failed" for c in as_list(status.get("checks"))):
        return "SmokeTesting"
    if not as_map(status.get("snapshot")).get("takenAt"):
        return "Snapshotting"
    return "Shadowing" if not status.get("shadowNamespace") else "SmokeTesting"


def _stage_detail(phase: str, spec: Obj, status: Obj) -> str:
    if phase == "Snapshotting":
        snapshot = as_map(status.get("snapshot"))
        count = len(as_list(snapshot.get("targets")))
        return f"{count} objects saved" if snapshot.get("takenAt") else ""
    if phase == "Shadowing":
        return as_text(status.get("shadowNamespace"))
    if phase == "SmokeTesting":
        checks = [as_map(c) for c in as_list(status.get("checks"))]
        if not checks:
            return ""
        passed = sum(1 for c in checks if c.get("phase") == "Passed")
        return f"{passed}/{len(checks)} passed"
    if phase == "Shifting":
        strategy = as_map(spec.get("strategy"))
        kind = as_text(strategy.get("type")) or "Replace"
        steps = as_list(as_map(strategy.get("canary")).get("steps"))
        step = status.get("currentStep")
        if kind == "Canary" and steps and isinstance(step, int):
            return f"Canary, step {min(step + 1, len(steps))} of {len(steps)}"
        return kind
    if phase == "Baking":
        return f"{as_text(spec.get('bake')) or '5m'} watching production"
    return ""


def timeline(spec: Obj, status: Obj) -> list[Stage]:
    """The current revision's stages with their state, and its end when it ended."""
    phase = as_text(status.get("phase")) or "Pending"
    order = [p for _, p in STAGES]
    shifted = status.get("shiftStarted") is True
    if phase in order:
        reached, broken = order.index(phase), None
    elif phase in ("RollingBack", "RolledBack", "Aborted"):
        reached, broken = (order.index("Baking") if shifted else order.index("Shifting")), None
    elif phase == "Validated":  # proven and, as spec.promote said, not shifted
        reached, broken = order.index("SmokeTesting"), None
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
            ended = ("RollingBack", "RolledBack", "Aborted", "Validated")
            state = "done" if phase in ended else "active"
        else:
            state = "skipped" if phase in FINISHED or phase == "RollingBack" else "pending"
        stages.append(
            Stage(
                name=name,
                state=state,
                detail=_stage_detail(stage_phase, spec, status) if state != "pending" else "",
            )
        )
    reason = as_text(status.get("rollbackReason"))
    if phase == "RollingBack":
        stages.append(Stage(name="Rolling back", state="active", detail=reason))
    elif phase in ("RolledBack", "Aborted"):
        stages.append(Stage(name="Rolled back", state="failed", detail=reason))
    elif phase == "Failed":
        stages.append(Stage(name="Failed", state="failed", detail=as_text(status.get("message"))))
    elif phase == "Succeeded":
        stages.append(Stage(name="Succeeded", state="done", detail=""))
    return stages


def canary_steps(spec: Obj, status: Obj) -> list[Step]:
    """Each canary step (``50%``, ``pause 10m``) and whether the rollout passed it."""
    strategy = as_map(spec.get("strategy"))
    if strategy.get("type") != "Canary":
        return []
    current = status.get("currentStep")
    phase = as_text(status.get("phase"))
    shifted = status.get("shiftStarted") is True
    steps = []
    for index, step in enumerate(map(as_map, as_list(as_map(strategy.get("canary")).get("steps")))):
        if step.get("weight") is not None:
            label = f"{as_text(step.get('weight'))}%"
        else:
            label = f"pause {as_text(step.get('pause')) or 'until promoted'}"
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
    meta, spec, status = (as_map(obj.get(k)) for k in ("metadata", "spec", "status"))
    live = live or {}
    phase = as_text(status.get("phase")) or "Pending"
    snapshot = {
        (as_text(t.get("kind")), as_text(t.get("name"))): as_map(t)
        for t in map(as_map, as_list(as_map(status.get("snapshot")).get("targets")))
    }
    targets = []
    for target in map(as_map, as_list(spec.get("targets"))):
        key = (as_text(target.get("kind")), as_text(target.get("name")))
        saved = snapshot.get(key)
        if saved is None:
            snap = "not saved yet"
        elif saved.get("existed") is False:
            snap = "did not exist"
        else:
            version = as_text(saved.get("resourceVersion"))
            snap = f"saved at resourceVersion {version}" if version else "saved"
        targets.append(TargetView(kind=key[0], name=key[1], snapshot=snap, live=live.get(key, "")))
    requests = []
    for asked, handled, words in (
        (ABORT, "handledAbort", "abort requested, waiting for the operator"),
        (PROMOTE, "handledPromote", "promote requested, waiting for the operator"),
    ):
        value = annotation(obj, asked)
        if value and value != as_text(status.get(handled)):
            requests.append(words)
    history = [as_map(h) for h in as_list(status.get("history"))]
    return RolloutView(
        id=card_id("iro", obj),
        namespace=as_text(meta.get("namespace")),
        name=as_text(meta.get("name")),
        phase=phase,
        revision=as_text(status.get("revision")),
        state=state(obj),
        message=as_text(status.get("message")) or message(obj),
        strategy=as_text(path(obj, "spec.strategy.type")) or "Replace",
        shadow_namespace=as_text(status.get("shadowNamespace")),
        waiting_for=as_text(status.get("waitingFor")),
        rollback_reason=as_text(status.get("rollbackReason")),
        timeline=timeline(spec, status),
        steps=canary_steps(spec, status),
        checks=[
            CheckView(
                name=as_text(c.get("name")),
                type=as_text(c.get("type")),
                phase=as_text(c.get("phase")),
                message=as_text(c.get("message")),
            )
            for c in map(as_map, as_list(status.get("checks")))
        ],
        targets=targets,
        revisions=[
            RevisionRow(
                revision=as_text(h.get("revision")),
                result=as_text(h.get("result")),
                started_at=as_text(h.get("startedAt")),
                took=duration(seconds_between(h.get("startedAt"), h.get("finishedAt"))),
                reason=as_text(h.get("reason")),
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
    spec, status = as_map(obj.get("spec")), as_map(obj.get("status"))
    if "desiredNumberScheduled" in status:  # a DaemonSet
        return f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled')} ready"
    want = spec.get("replicas", 1)
    return f"{status.get('readyReplicas', 0) or 0}/{want} ready"
