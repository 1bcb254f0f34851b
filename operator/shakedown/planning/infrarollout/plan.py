"""The InfraRollout state machine: (spec, status, observed, now) -> decision.

One pure function drives every phase. It returns the next status (written
before anything is done, so a restarted operator knows what was under way),
the Events for the transitions, and the actions for the adapters, each keyed
so that doing it again changes nothing. The phases live in their own modules
(snapshot, shadow, smoke, strategies, bake, rollback, locking); this module
only sequences them:

    Pending (locks) -> Snapshotting -> Shadowing -> SmokeTesting -> Shifting
      -> Baking -> Succeeded
    any failure before Shifting              -> Failed (production untouched)
    promote: false, smoke tests passed        -> Validated (production untouched)
    any failure from Shifting on (automatic) -> RollingBack -> RolledBack
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import (
    CheckPhase,
    CheckStatus,
    CheckType,
    InfraRolloutSpec,
    InfraRolloutStatus,
    ResolvedImage,
    RolloutHistoryEntry,
    RolloutPhase,
    RolloutResult,
    Snapshot,
    SnapshotTarget,
    TargetKind,
)
from shakedown.conditions import PAUSED, Health, with_health
from shakedown.planning.infrarollout.actions import (
    Action,
    Apply,
    DeleteNamespace,
    EnsureNamespace,
    EventNote,
    RunCheck,
    StoreSnapshot,
)
from shakedown.planning.infrarollout.bake import Verdict, judge_pods
from shakedown.planning.infrarollout.change import ChangeError, ResolvedChange
from shakedown.planning.infrarollout.confinement import pod_security_labels, quota_objects
from shakedown.planning.infrarollout.desired import desired_objects
from shakedown.planning.infrarollout.evidence import Evidence, judge_shadow
from shakedown.planning.infrarollout.locking import holder_id, plan_locks, plan_release
from shakedown.planning.infrarollout.objects import (
    WORKLOAD_KINDS,
    Obj,
    ObjKey,
    is_applied,
    with_applied_annotation,
)
from shakedown.planning.infrarollout.revision import (
    ImageSource,
    check_revision,
    resolve_change,
)
from shakedown.planning.infrarollout.rollback import plan_rollback
from shakedown.planning.infrarollout.shadow import (
    OWNER_ANNOTATION,
    RolloutIdentity,
    apply_order,
    namespace_manifest,
    network_policy,
    shadow_namespace_name,
    shadow_objects,
)
from shakedown.planning.infrarollout.smoke import (
    READY_CHECK,
    CheckOutcome,
    candidate_image,
    check_requests,
    initial_checks,
    judge_ready,
    ready_for_seconds,
)
from shakedown.planning.infrarollout.snapshot import SnapshotContent, snapshot_keys, snapshot_name
from shakedown.planning.infrarollout.steering import (
    HOLD_NOTE,
    held,
    parse_undo,
    retry_request,
    undo_request,
)
from shakedown.planning.infrarollout.strategies import ShiftContext, ShiftStrategy, for_type

PROMOTE_ANNOTATION = "shakedown.dev/promote"
ABORT_ANNOTATION = "shakedown.dev/abort"
HISTORY_LIMIT = 10
#: Re-observe at least this often while something is in progress (watch events come first).
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Observed:
    """Everything the planner needs to know about the world, read by the adapters."""

    name: str
    namespace: str
    uid: str
    generation: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)
    deleting: bool = False
    image_source: ImageSource | None = None
    locks: Mapping[ObjKey, str | None] = field(default_factory=dict)
    """Holder of each lock this rollout needs (None: free)."""
    snapshot: SnapshotContent | None = None
    """The stored snapshot of ``status.revision``, when it exists."""
    production: Mapping[ObjKey, Obj | None] = field(default_factory=dict)
    """Targets, their dependencies and the strategy's copies, as they are now."""
    services: Sequence[Obj] = ()
    """Every Service in the namespace (to find those that select the workloads)."""
    pods: Sequence[Obj] = ()
    """Pods in the rollout's namespace."""
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the rollout's namespace (its Pod Security levels go to the shadow)."""
    quotas: Sequence[Obj] = ()
    """ResourceQuotas and LimitRanges of the rollout's namespace (copied to the shadow)."""
    shadow_namespace: Obj | None = None
    shadow_objects: Mapping[ObjKey, Obj | None] = field(default_factory=dict)
    shadow_pods: Sequence[Obj] = ()
    shadow_events: Sequence[Obj] = ()
    """Events in the shadow namespace (the last probe failure of a pod)."""
    check_outcomes: Mapping[str, CheckOutcome] = field(default_factory=dict)
    """Finished smoke checks of ``status.revision`` (name -> outcome)."""

    @property
    def holder(self) -> str:
        return holder_id(self.namespace, self.name, self.uid)

    def who(self, revision: int) -> RolloutIdentity:
        return RolloutIdentity(self.name, self.namespace, self.uid, revision)


@dataclass(frozen=True)
class Decision:
    status: InfraRolloutStatus
    events: tuple[EventNote, ...] = ()
    actions: tuple[Action, ...] = ()
    wake_at: datetime | None = None
    failure: Verdict | None = None
    """Set when this decision starts a rollback because production failed."""
    finished: bool = False
    """Nothing left to do for deletion (the finalizer may go)."""
    again: bool = False
    """Plan again at once (a transition was recorded; its actions come next)."""


class _Step:
    """Accumulates one decision."""

    def __init__(self, status: InfraRolloutStatus, now: datetime, generation: int) -> None:
        self.status = status
        self.now = now
        self.generation = generation
        self.events: list[EventNote] = []
        self.actions: list[Action] = []
        self.wake_at: datetime | None = None
        self.failure: Verdict | None = None
        self.again = False
        self.paused: str | None = None
        """What resumes a paused rollout, when it is paused (kstatus reason Paused)."""

    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.events.append(EventNote("Warning" if warning else "Normal", reason, message))

    def enter(
        self, phase: RolloutPhase, message: str, *, warning: bool = False, **changes: Any
    ) -> None:
        """Record a phase transition (status first, then an Event)."""
        self.update(phase=phase, phase_started_at=self.now, message=message, **changes)
        self.event(phase.value, f"revision {self.status.revision}: {message}", warning=warning)
        self.again = True

    def wake(self, at: datetime | None) -> None:
        if at is not None:
            self.wake_at = at if self.wake_at is None else min(self.wake_at, at)

    def poll(self) -> None:
        self.wake(self.now + timedelta(seconds=POLL_SECONDS))

    def decision(self, *, finished: bool = False) -> Decision:
        return Decision(
            status=_with_conditions(self.status, self.generation, self.now, paused=self.paused),
            events=tuple(self.events),
            actions=tuple(self.actions),
            wake_at=self.wake_at,
            failure=self.failure,
            finished=finished,
            again=self.again,
        )


def plan(
    spec: InfraRolloutSpec, status: InfraRolloutStatus, observed: Observed, now: datetime
) -> Decision:
    step = _Step(status, now, observed.generation)
    phase = status.phase
    in_flight = status.revision > 0 and not phase.finished

    if observed.deleting:
        return _plan_deletion(spec, observed, step)

    if not in_flight:
        _plan_idle(spec, observed, step)
        return step.decision()

    revision = check_revision(spec, observed.image_source)
    abort = observed.annotations.get(ABORT_ANNOTATION)
    if abort and abort != status.handled_abort and phase is not RolloutPhase.ROLLING_BACK:
        step.update(handled_abort=abort)
        _fail(spec, observed, step, "Aborted", "aborted by shakedown.dev/abort", aborted=True)
        return step.decision()
    if (
        revision.wanted_hash is not None
        and revision.wanted_hash != status.change_hash
        and phase is not RolloutPhase.ROLLING_BACK
    ):
        _fail(spec, observed, step, "Superseded", "superseded by a newer change", aborted=True)
        return step.decision()
    started = status.started_at
    if (
        started is not None
        and phase
        in (
            RolloutPhase.SNAPSHOTTING,
            RolloutPhase.SHADOWING,
            RolloutPhase.SMOKE_TESTING,
            RolloutPhase.SHIFTING,
        )
        and now >= started + timedelta(seconds=parse_duration(spec.timeout))
    ):
        _fail(
            spec,
            observed,
            step,
            "Timeout",
            f"spec.timeout {spec.timeout} exceeded in {phase.value}",
        )
        return step.decision()

    handler = _PHASES[phase]
    handler(spec, observed, step)
    return step.decision()


# --------------------------------------------------------------------------- idle / new revision
def _plan_idle(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    abort = observed.annotations.get(ABORT_ANNOTATION)
    if (
        abort
        and abort != step.status.handled_abort
        and step.status.phase is RolloutPhase.FAILED
        and step.status.shift_started
    ):
        # rollback.automatic was off and production failed: a person decides to roll back.
        step.update(handled_abort=abort)
        step.enter(
            RolloutPhase.ROLLING_BACK,
            "rolling back: Aborted: shakedown.dev/abort after a failure",
            warning=True,
            rollback_reason="Aborted: shakedown.dev/abort after a failure",
            waiting_for="restoring the snapshot",
        )
        return
    undo = undo_request(step.status, observed.annotations)
    if undo is not None:
        step.update(handled_undo=undo.value)
        if undo.act:
            target = parse_undo(undo.value)
            step.enter(
                RolloutPhase.ROLLING_BACK,
                f"rolling back: {undo.note}",
                warning=True,
                rollback_reason=undo.note,
                undo_revision=target,
                waiting_for="restoring the snapshot",
            )
            return
        step.event("Ignored", undo.note, warning=True)
    retry = retry_request(step.status, observed.annotations)
    if retry is not None:
        step.update(handled_retry=retry.value)
        if not retry.act:
            step.event("Ignored", retry.note, warning=True)
    # Steering with nothing in flight has nothing to act on: note it, so a
    # stale annotation does not abort (or promote) the next revision.
    for key, handled in (
        (ABORT_ANNOTATION, "handled_abort"),
        (PROMOTE_ANNOTATION, "handled_promote"),
    ):
        value = observed.annotations.get(key)
        if value and value != getattr(step.status, handled):
            step.update(**{handled: value})
            step.event("Ignored", f"{key} set while no rollout is in progress")
    status = step.status
    revision = check_revision(spec, observed.image_source)
    if revision.is_new(status) or (
        retry is not None and retry.act and revision.wanted_hash is not None
    ):
        change = resolve_change(spec, observed.image_source)
        step.update(
            revision=status.revision + 1,
            change_hash=revision.wanted_hash,
            resolved_images=[ResolvedImage(container=c, image=i) for c, i in change.images],
            phase=RolloutPhase.PENDING,
            phase_started_at=step.now,
            started_at=None,
            shadow_namespace=None,
            shadow_expires_at=None,
            current_step=None,
            step_started_at=None,
            rollback_reason=None,
            snapshot=None,
            checks=[],
            shift_started=False,
            shift_started_at=None,
            failure_observed_at=None,
            failure_reason=None,
            waiting_for=None,
            undo_revision=None,
            message="new change detected" if retry is None else retry.note,
        )
        step.event(
            "RevisionStarted", f"revision {step.status.revision}: change {revision.wanted_hash}"
        )
        step.again = True
        return
    _cleanup(observed, step)
    if revision.waiting_for:
        step.update(waiting_for=revision.waiting_for)
    if step.actions:
        step.poll()


def _cleanup(observed: Observed, step: _Step) -> None:
    """Leftovers of an ended revision: the shadow namespace and our locks."""
    ns = observed.shadow_namespace
    if ns is not None and not ns.get("metadata", {}).get("deletionTimestamp"):
        step.actions.append(DeleteNamespace(ns["metadata"]["name"]))
    step.actions.extend(plan_release(observed.locks, me=observed.holder))


# --------------------------------------------------------------------------- phases
def _plan_pending(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    if not spec.promote:
        # Prove-only never touches production, so it neither needs nor blocks its locks.
        step.enter(
            RolloutPhase.SNAPSHOTTING,
            "snapshotting production (prove only: promote is false)",
            started_at=step.now,
            waiting_for=None,
        )
        return
    who = observed.who(step.status.revision)
    needed = lock_keys(spec)
    locks = plan_locks(needed, observed.locks, me=observed.holder, owner=who.owner_reference())
    if locks.held:
        step.enter(
            RolloutPhase.SNAPSHOTTING,
            "snapshotting production",
            started_at=step.now,
            waiting_for=None,
        )
        return
    if locks.blocked_by:
        waiting = f"waiting for {locks.blocked_by}"
        if step.status.waiting_for != waiting:
            step.event("Waiting", waiting)
        step.update(waiting_for=waiting, message=waiting)
        step.poll()
        return
    step.actions.extend(locks.actions)
    step.again = True


def lock_keys(spec: InfraRolloutSpec) -> list[ObjKey]:
    keys = [ObjKey(str(t.kind), t.name) for t in spec.targets]
    blue_green = spec.strategy.blue_green
    if blue_green is not None and blue_green.service:
        keys.append(ObjKey("Service", blue_green.service))
    return keys


def _plan_snapshotting(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    status = step.status
    who = observed.who(status.revision)
    targets = target_keys(spec)
    name = snapshot_name(observed.name, status.revision)
    if observed.snapshot is None:
        missing = [
            k for k in targets if k.kind in WORKLOAD_KINDS and observed.production.get(k) is None
        ]
        change = resolve_change(spec, observed.image_source)
        missing = [k for k in missing if change.manifest_for(k) is None]
        if missing:
            _fail(
                spec,
                observed,
                step,
                "TargetNotFound",
                f"spec.targets: {', '.join(map(str, missing))} not found",
            )
            return
        keys = snapshot_keys(
            targets, observed.production, observed.services, spec.shadow.copy_secrets
        )
        known = {**{ObjKey.of(s): s for s in observed.services}, **observed.production}
        content = SnapshotContent.capture(keys, known)
        step.actions.append(
            StoreSnapshot(name, content.to_secret_data(), who.labels(), who.owner_reference())
        )
        step.again = True
        return
    snapshot = observed.snapshot.objects
    problem = _validate_revision(spec, observed, step)
    if problem:
        _fail(spec, observed, step, "InvalidChange", problem)
        return
    entries = [
        SnapshotTarget(
            kind=TargetKind(k.kind),
            name=k.name,
            resource_version="",
            existed=snapshot.get(k) is not None,
        )
        for k in targets
    ]
    step.update(snapshot=Snapshot(secret=name, taken_at=step.now, targets=entries))
    ns = shadow_namespace_name(observed.namespace, observed.name, status.revision)
    expires = step.now + timedelta(seconds=parse_duration(spec.shadow.ttl))
    step.enter(
        RolloutPhase.SHADOWING,
        f"snapshot {name} stored; creating shadow namespace {ns}",
        shadow_namespace=ns,
        shadow_expires_at=expires,
    )


def _validate_revision(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> str | None:
    try:
        ctx = shift_context(spec, observed, step)
    except ChangeError as exc:
        return str(exc)
    return strategy_for(spec).validate(ctx)


def _plan_shadowing(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    status = step.status
    who = observed.who(status.revision)
    ns_name = status.shadow_namespace or shadow_namespace_name(
        observed.namespace, observed.name, status.revision
    )
    ns = observed.shadow_namespace
    if _shadow_expired(step):
        _fail(spec, observed, step, "ShadowExpired", f"shadow.ttl {spec.shadow.ttl} ran out")
        return
    meta = (ns or {}).get("metadata", {})
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
    if ns is not None and owner != f"{who.namespace}/{who.name}/{who.uid}":
        # Left by an earlier InfraRollout of the same name: clear it, then start afresh.
        if not meta.get("deletionTimestamp"):
            step.actions.append(DeleteNamespace(ns_name))
        step.update(waiting_for=f"namespace {ns_name} of an earlier rollout is being deleted")
        step.poll()
        return
    if meta.get("deletionTimestamp"):
        _fail(spec, observed, step, "ShadowDeleted", f"shadow namespace {ns_name} is being deleted")
        return
    if ns is None:
        expires = status.shadow_expires_at or step.now
        labels = pod_security_labels(observed.namespace_labels)
        step.actions.append(EnsureNamespace(namespace_manifest(ns_name, who, expires, labels)))
        step.again = True
        return
    wanted = _shadow_wanted(spec, observed, step, who)
    pending = [
        Apply(ns_name, with_applied_annotation(obj), "shadow copy")
        for key, obj in sorted(wanted.items(), key=lambda kv: apply_order(kv[0]))
        if not is_applied(obj, observed.shadow_objects.get(key))
    ]
    if pending:
        step.actions.extend(pending)
        step.again = True
        return
    step.enter(
        RolloutPhase.SMOKE_TESTING,
        f"shadow copies created in {ns_name}; smoke testing",
        checks=initial_checks(spec),
    )


def _shadow_wanted(
    spec: InfraRolloutSpec, observed: Observed, step: _Step, who: RolloutIdentity
) -> dict[ObjKey, Obj]:
    ctx = shift_context(spec, observed, step)
    wanted = shadow_objects(
        ctx.desired, who=who, replicas=spec.shadow.replicas, copy_secrets=spec.shadow.copy_secrets
    )
    wanted.update(quota_objects(observed.quotas, who.labels()))
    if spec.shadow.isolate:
        policy = network_policy(who)
        wanted[ObjKey.of(policy)] = policy
    return wanted


def _shadow_expired(step: _Step) -> bool:
    expires = step.status.shadow_expires_at
    return expires is not None and step.now >= expires


def _plan_smoke(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    status = step.status
    if _shadow_expired(step):
        _fail(spec, observed, step, "ShadowExpired", f"shadow.ttl {spec.shadow.ttl} ran out")
        return
    if observed.shadow_namespace is None:
        _fail(
            spec,
            observed,
            step,
            "ShadowDeleted",
            f"shadow namespace {status.shadow_namespace} is gone",
        )
        return
    checks = list(status.checks) or initial_checks(spec)
    ready = next((c for c in checks if c.name == READY_CHECK), None)
    readiness = ready is not None and ready.phase is not CheckPhase.PASSED
    started = status.phase_started_at or step.now
    deadline = started + timedelta(seconds=parse_duration(spec.smoke_tests.ready_timeout))
    verdict = judge_shadow(
        observed.shadow_pods,
        observed.shadow_events,
        now=step.now,
        readiness=readiness,
        ready_deadline=deadline,
        ready_timeout=spec.smoke_tests.ready_timeout,
    )
    if verdict.broken is None and readiness and step.now >= deadline:
        # No pod to blame (none created, or too few): readiness itself timed out.
        judgement = judge_ready(
            observed.shadow_objects,
            observed.shadow_pods,
            ready_for=ready_for_seconds(spec),
            max_restarts=spec.rollback.max_restarts,
            now=step.now,
        )
        if not judgement.passed and judgement.recheck_at is None:
            verdict = replace(
                verdict,
                broken=Evidence(
                    "",
                    "ReadyTimeout",
                    f"not Ready within smokeTests.readyTimeout "
                    f"{spec.smoke_tests.ready_timeout}: {judgement.message}",
                    at=deadline,
                ),
            )
    if verdict.broken is not None:
        evidence = verdict.broken
        name = READY_CHECK if readiness else _running_check(checks)
        checks = _set_check(checks, name, CheckPhase.FAILED, evidence.message, step.now)
        step.update(checks=checks)
        step.event(
            "SmokeCheckFailed", f"revision {status.revision}: {evidence.message}", warning=True
        )
        _fail(spec, observed, step, evidence.reason, f"shadow broken: {evidence.message}")
        return
    step.wake(verdict.recheck_at)
    if readiness:
        judgement = judge_ready(
            observed.shadow_objects,
            observed.shadow_pods,
            ready_for=ready_for_seconds(spec),
            max_restarts=spec.rollback.max_restarts,
            now=step.now,
        )
        if judgement.failed:
            checks = _set_check(checks, READY_CHECK, CheckPhase.FAILED, judgement.message, step.now)
            step.update(checks=checks)
            _fail(
                spec,
                observed,
                step,
                "SmokeTestFailed",
                f"smoke test ready failed: {judgement.message}",
            )
            return
        if not judgement.passed:
            checks = _set_check(
                checks, READY_CHECK, CheckPhase.RUNNING, judgement.message, step.now
            )
            step.update(checks=checks, waiting_for=f"shadow: {judgement.message}")
            step.wake(judgement.recheck_at)
            step.poll()
            return
        checks = _set_check(checks, READY_CHECK, CheckPhase.PASSED, judgement.message, step.now)
        step.event("SmokeCheckPassed", f"revision {status.revision}: ready: {judgement.message}")
    for name, outcome in observed.check_outcomes.items():
        check = next((c for c in checks if c.name == name), None)
        if check is None or check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        phase = CheckPhase.PASSED if outcome.passed else CheckPhase.FAILED
        checks = _set_check(
            checks,
            name,
            phase,
            outcome.message,
            step.now,
            successes=outcome.successes,
            failures=outcome.failures,
            job=outcome.job,
        )
        step.event(
            "SmokeCheckPassed" if outcome.passed else "SmokeCheckFailed",
            f"revision {status.revision}: {name}: {outcome.message}",
            warning=not outcome.passed,
        )
    failed = [c for c in checks if c.phase is CheckPhase.FAILED]
    if failed:
        step.update(checks=checks)
        first = failed[0]
        _fail(
            spec,
            observed,
            step,
            "SmokeTestFailed",
            f"smoke test {first.name} failed: {first.message}",
        )
        return
    if all(c.phase is CheckPhase.PASSED for c in checks):
        step.update(checks=checks)
        if not spec.promote:
            _finish(
                observed,
                step,
                RolloutPhase.VALIDATED,
                RolloutResult.VALIDATED,
                "smoke tests passed; production untouched (promote: false)",
            )
            return
        step.enter(
            RolloutPhase.SHIFTING,
            f"smoke tests passed; shifting production ({spec.strategy.type.value})",
            shift_started=True,
            shift_started_at=step.now,
            current_step=None,
            step_started_at=None,
        )
        return
    # Start (or keep running) the other checks, marked Running first.
    change = resolve_change(spec, observed.image_source)
    requests = check_requests(
        spec, checks, namespace=status.shadow_namespace or "", revision=status.revision
    )
    jobs = {j.name: j for j in spec.smoke_tests.jobs}
    for request in requests:
        image = None
        if request.name in jobs:
            job = jobs[request.name]
            image = job.image or candidate_image(change, job.container, observed.shadow_objects)
        step.actions.append(replace(request, image=image))
        check = next(c for c in checks if c.name == request.name)
        if check.phase is CheckPhase.PENDING:
            checks = _set_check(checks, request.name, CheckPhase.RUNNING, "running", step.now)
    running = [c.name for c in checks if c.phase is CheckPhase.RUNNING]
    step.update(checks=checks, waiting_for=f"smoke tests: {', '.join(running)}")
    step.poll()


def _running_check(checks: Sequence[CheckStatus]) -> str:
    """The check a shadow failure is charged to once readiness passed."""
    running = [c.name for c in checks if c.phase is CheckPhase.RUNNING]
    return running[0] if running else READY_CHECK


def _set_check(
    checks: Sequence[CheckStatus],
    name: str,
    phase: CheckPhase,
    message: str,
    now: datetime,
    **extra: Any,
) -> list[CheckStatus]:
    out = []
    for check in checks:
        if check.name == name:
            changes: dict[str, Any] = {"phase": phase, "message": message[:1000], **extra}
            if check.started_at is None:
                changes["started_at"] = now
            if phase in (CheckPhase.PASSED, CheckPhase.FAILED):
                changes["finished_at"] = now
            check = check.model_copy(update={k: v for k, v in changes.items() if v is not None})
        out.append(check)
    return out


def _plan_shifting(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    ctx = shift_context(spec, observed, step)
    strategy = strategy_for(spec)
    result = strategy.shift(ctx)
    if _judge(spec, observed, step, ctx, strategy, result.judged_pods):
        return
    moving = result.current_step not in (None, step.status.current_step)
    if held(observed.annotations) and (result.actions or result.done or moving):
        step.update(waiting_for=HOLD_NOTE)
        step.poll()
        return
    if result.handled_promote:
        step.update(handled_promote=observed.annotations.get(PROMOTE_ANNOTATION))
        step.event(
            "Promoted", f"revision {step.status.revision}: pause skipped by shakedown.dev/promote"
        )
    if result.current_step is not None and result.current_step != step.status.current_step:
        step.update(current_step=result.current_step, step_started_at=result.step_started_at)
        step.event(
            "Step", f"revision {step.status.revision}: canary step {result.current_step + 1}"
        )
        step.again = True
        return
    if result.done:
        step.enter(
            RolloutPhase.BAKING, f"production shifted; baking for {spec.bake}", waiting_for=None
        )
        return
    step.actions.extend(result.actions)
    waiting_for = result.waiting_for
    if result.paused_until is not None:
        waiting_for = step.paused = pause_message(
            observed.name, step.status.current_step, result.paused_until
        )
    step.update(waiting_for=waiting_for or None)
    step.wake(result.wake_at)
    if result.actions:
        step.again = True
    else:
        step.poll()


def _plan_baking(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    ctx = shift_context(spec, observed, step)
    strategy = strategy_for(spec)
    started = step.status.phase_started_at or step.now
    until = started + timedelta(seconds=parse_duration(spec.bake))
    pods = strategy.bake_pods(ctx)
    if _judge(spec, observed, step, ctx, strategy, pods):
        return
    if step.now < until:
        step.update(waiting_for=f"baking until {until:%H:%M:%S}")
        step.wake(until)
        step.poll()
        return
    result = strategy.finalize(ctx)
    if not result.done:
        step.actions.extend(result.actions)
        step.update(waiting_for=result.waiting_for or None)
        step.again = bool(result.actions)
        step.poll()
        return
    _finish(
        observed,
        step,
        RolloutPhase.SUCCEEDED,
        RolloutResult.SUCCEEDED,
        "baked; production runs the change",
    )


def _judge(
    spec: InfraRolloutSpec,
    observed: Observed,
    step: _Step,
    ctx: ShiftContext,
    strategy: ShiftStrategy,
    pods: Sequence[Obj],
) -> bool:
    """Judge production pods; start the rollback on failure (True: handled)."""
    since = step.status.shift_started_at or step.status.phase_started_at or step.now
    verdict = judge_pods(
        pods,
        not_ready_for=float(parse_duration(spec.rollback.not_ready_for)),
        max_restarts=spec.rollback.max_restarts,
        since=since,
        now=step.now,
    )
    if not verdict.failed:
        step.wake(verdict.recheck_at)
        verdict = _production_metrics(spec, observed, step)
    if not verdict.failed:
        return False
    step.failure = verdict
    step.update(failure_observed_at=verdict.observable_at)
    _fail(spec, observed, step, verdict.reason, verdict.message, ctx=ctx, strategy=strategy)
    return True


#: Status name prefix of the metric checks judged against production.
PRODUCTION_CHECK_PREFIX = "production-"


def _production_metrics(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> Verdict:
    """``rollback.metrics`` against production: start them, record them, fail on the first."""
    wanted = {f"{PRODUCTION_CHECK_PREFIX}{m.name}": m for m in spec.rollback.metrics}
    paths = {f"{PRODUCTION_CHECK_PREFIX}{m.name}": i for i, m in enumerate(spec.rollback.metrics)}
    if not wanted:
        return Verdict(False)
    checks = list(step.status.checks)
    known = {c.name for c in checks}
    checks += [CheckStatus(name=n, type=CheckType.METRIC) for n in wanted if n not in known]
    failure: Verdict = Verdict(False)
    for name, metric in wanted.items():
        check = next(c for c in checks if c.name == name)
        if check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        outcome = observed.check_outcomes.get(name)
        if outcome is None:
            step.actions.append(
                RunCheck(
                    name,
                    CheckType.METRIC.value,
                    observed.namespace,
                    step.status.revision,
                    metric.to_api(),
                    field=f"spec.rollback.metrics[{paths[name]}]",
                )
            )
            if check.phase is CheckPhase.PENDING:
                checks = _set_check(
                    checks, name, CheckPhase.RUNNING, "measuring production", step.now
                )
            continue
        phase = CheckPhase.PASSED if outcome.passed else CheckPhase.FAILED
        checks = _set_check(
            checks,
            name,
            phase,
            outcome.message,
            step.now,
            successes=outcome.successes,
            failures=outcome.failures,
        )
        if not outcome.passed and not failure.failed:
            failure = Verdict(
                True, "MetricCheckFailed", f"{name}: {outcome.message}", observable_at=step.now
            )
    step.update(checks=checks)
    return failure


def _plan_rolling_back(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    if step.status.undo_revision and observed.snapshot is None:
        missing = f"the snapshot of revision {step.status.undo_revision} is missing"
        _finish(observed, step, RolloutPhase.FAILED, RolloutResult.FAILED, f"undo: {missing}")
        return
    ctx = shift_context(spec, observed, step)
    result = plan_rollback(ctx, strategy_for(spec))
    if result.actions:
        step.actions.extend(result.actions)
        step.update(waiting_for=result.waiting_for)
        step.again = True
        return
    reason = step.status.rollback_reason or "rolled back"
    if not result.done:
        started = step.status.phase_started_at or step.now
        if step.now < started + timedelta(seconds=parse_duration(spec.timeout)):
            step.update(waiting_for=f"rollback: {result.waiting_for}")
            step.poll()
            return
        health = f"production restored but not healthy after {spec.timeout}: {result.waiting_for}"
    else:
        health = "production healthy on the snapshot"
    _finish(
        observed,
        step,
        RolloutPhase.ROLLED_BACK,
        RolloutResult.ROLLED_BACK,
        f"rolled back: {reason}; {health}",
        warning=True,
        history_reason=reason,
    )


def _plan_finished(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> None:
    _plan_idle(spec, observed, step)


_PHASES = {
    RolloutPhase.PENDING: _plan_pending,
    RolloutPhase.SNAPSHOTTING: _plan_snapshotting,
    RolloutPhase.SHADOWING: _plan_shadowing,
    RolloutPhase.SMOKE_TESTING: _plan_smoke,
    RolloutPhase.SHIFTING: _plan_shifting,
    RolloutPhase.BAKING: _plan_baking,
    RolloutPhase.ROLLING_BACK: _plan_rolling_back,
    RolloutPhase.SUCCEEDED: _plan_finished,
    RolloutPhase.ROLLED_BACK: _plan_finished,
    RolloutPhase.FAILED: _plan_finished,
    RolloutPhase.ABORTED: _plan_finished,
    RolloutPhase.VALIDATED: _plan_finished,
}


# --------------------------------------------------------------------------- endings
def _fail(
    spec: InfraRolloutSpec,
    observed: Observed,
    step: _Step,
    reason: str,
    message: str,
    *,
    aborted: bool = False,
    ctx: ShiftContext | None = None,
    strategy: ShiftStrategy | None = None,
) -> None:
    """A failure: roll back if production was touched (and allowed), else end the revision."""
    status = step.status
    text = f"{reason}: {message}"
    if status.shift_started and (spec.rollback.automatic or aborted or observed.deleting):
        step.enter(
            RolloutPhase.ROLLING_BACK,
            f"rolling back: {text}",
            warning=True,
            rollback_reason=text,
            waiting_for="restoring the snapshot",
        )
        # Act in the same round trip: status first (done by the caller), then the restore.
        try:
            context = ctx or shift_context(spec, observed, step)
        except ChangeError:
            return
        rollback = plan_rollback(context, strategy or strategy_for(spec))
        step.actions.extend(rollback.actions)
        return
    step.update(failure_reason=reason)
    if aborted:
        _finish(observed, step, RolloutPhase.ABORTED, RolloutResult.ABORTED, text, warning=True)
        return
    _finish(observed, step, RolloutPhase.FAILED, RolloutResult.FAILED, text, warning=True)


def _finish(
    observed: Observed,
    step: _Step,
    phase: RolloutPhase,
    result: RolloutResult,
    message: str,
    *,
    warning: bool = False,
    history_reason: str | None = None,
) -> None:
    status = step.status
    entry = RolloutHistoryEntry(
        revision=status.revision,
        result=result,
        started_at=status.started_at,
        finished_at=step.now,
        reason=history_reason if history_reason is not None else message,
        change_hash=status.change_hash or "",
    )
    history = [entry, *[h for h in status.history if h.revision != status.revision]][:HISTORY_LIMIT]
    step.enter(
        phase,
        message,
        warning=warning,
        history=history,
        waiting_for=None,
        current_step=status.current_step,
    )
    _cleanup(observed, step)


# --------------------------------------------------------------------------- deletion
def _plan_deletion(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> Decision:
    status = step.status
    if status.revision > 0 and not status.phase.finished:
        if status.shift_started and status.phase is not RolloutPhase.ROLLING_BACK:
            _fail(
                spec, observed, step, "Deleted", "the InfraRollout is being deleted", aborted=True
            )
            return step.decision()
        if status.phase is RolloutPhase.ROLLING_BACK:
            _plan_rolling_back(spec, observed, step)
            return step.decision()
        _finish(
            observed, step, RolloutPhase.ABORTED, RolloutResult.ABORTED, "deleted before the shift"
        )
        return step.decision()
    _cleanup(observed, step)
    ns = observed.shadow_namespace
    gone = ns is None or bool(ns.get("metadata", {}).get("deletionTimestamp"))
    done = not step.actions and gone
    if not done:
        step.poll()
    return step.decision(finished=done)


# --------------------------------------------------------------------------- shared
def target_keys(spec: InfraRolloutSpec) -> tuple[ObjKey, ...]:
    return tuple(ObjKey(str(t.kind), t.name) for t in spec.targets)


def strategy_for(spec: InfraRolloutSpec) -> ShiftStrategy:
    return for_type(spec.strategy.type)


def _change_for(spec: InfraRolloutSpec, status: InfraRolloutStatus) -> ResolvedChange:
    """The change of the revision in flight: images as resolved when it started."""
    base = resolve_change(spec, None)
    resolved = tuple((i.container, i.image) for i in status.resolved_images)
    return replace(base, images=resolved or base.images)


def shift_context(spec: InfraRolloutSpec, observed: Observed, step: _Step) -> ShiftContext:
    snapshot = observed.snapshot.objects if observed.snapshot is not None else {}
    targets = target_keys(spec)
    change = _change_for(spec, step.status)
    desired = desired_objects(snapshot, change, targets)
    promote = observed.annotations.get(PROMOTE_ANNOTATION)
    return ShiftContext(
        who=observed.who(step.status.revision),
        spec=spec,
        status=step.status,
        targets=targets,
        snapshot=snapshot,
        desired=desired,
        production=observed.production,
        pods=observed.pods,
        now=step.now,
        promote_requested=bool(promote) and promote != step.status.handled_promote,
    )


# --------------------------------------------------------------------------- conditions
def pause_message(name: str, step_index: int | None, until: datetime) -> str:
    """What resumes a paused canary, for the condition message and ``waitingFor``."""
    where = f"canary step {step_index + 1}" if step_index is not None else "canary"
    return (
        f"{where} paused: waiting for `shakedown promote iro {name}` "
        f"(annotation {PROMOTE_ANNOTATION}) or until {until:%Y-%m-%dT%H:%M:%SZ}"
    )


def _with_conditions(
    status: InfraRolloutStatus, generation: int, now: datetime, *, paused: str | None = None
) -> InfraRolloutStatus:
    """Ready/Reconciling/Stalled from the phase; a pause is Reconciling with reason Paused.

    A dashboard tells "waiting for you" from "working" by the reason alone, and
    the message says what resumes it.
    """
    phase = status.phase
    if paused is not None and phase is RolloutPhase.SHIFTING:
        health, reason, message = Health.RECONCILING, PAUSED, paused
    elif status.revision == 0:
        health, reason = Health.RECONCILING, "WaitingForChange"
        message = status.waiting_for or "no revision yet"
    elif phase is RolloutPhase.SUCCEEDED:
        health, reason, message = Health.READY, "Succeeded", status.message
    elif phase is RolloutPhase.VALIDATED:
        health, reason, message = Health.READY, "Validated", status.message
    elif phase is RolloutPhase.FAILED:
        health, reason, message = Health.STALLED, status.failure_reason or "Failed", status.message
    elif phase in (RolloutPhase.ROLLED_BACK, RolloutPhase.ABORTED):
        health, reason, message = Health.STALLED, phase.value, status.message
    elif phase is RolloutPhase.PENDING and status.waiting_for:
        health, reason, message = Health.RECONCILING, "WaitingForLock", status.waiting_for
    else:
        health, reason = Health.RECONCILING, phase.value
        message = status.waiting_for or status.message
    conditions = with_health(
        status.conditions,
        health,
        reason=reason,
        message=message or phase.value,
        generation=generation,
        at=now,
    )
    return status.model_copy(update={"conditions": conditions, "observed_generation": generation})
