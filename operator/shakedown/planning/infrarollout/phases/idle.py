"""No revision in flight: steering on an ended revision, new revisions, leftovers."""

from __future__ import annotations

from shakedown.api.infrarollout import InfraRolloutSpec, ResolvedImage, RolloutPhase
from shakedown.planning.infrarollout.endings import cleanup
from shakedown.planning.infrarollout.revision import check_revision, resolve_change
from shakedown.planning.infrarollout.steering import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    parse_undo,
    retry_request,
    undo_request,
)
from shakedown.planning.infrarollout.step import Observed, Step


def plan_idle(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
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
    cleanup(observed, step)
    if revision.waiting_for:
        step.update(waiting_for=revision.waiting_for)
    if step.actions:
        step.poll()


def plan_finished(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    plan_idle(spec, observed, step)
