"""No revision in flight: steering on an ended revision, new revisions, leftovers."""

from __future__ import annotations

from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    ResolvedImage,
    RevisionState,
    RolloutPhase,
)
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
        step.enter_rollback("Aborted: shakedown.dev/abort after a failure")
        return
    undo = undo_request(step.status, observed.annotations)
    if undo is not None:
        step.update(handled_undo=undo.value)
        if undo.act:
            target = parse_undo(undo.value)
            step.enter_rollback(undo.note, undo_revision=target)
            return
        step.event("Ignored", undo.note, warning=True)
    retry = retry_request(step.status, observed.annotations)
    if retry is not None:
        step.update(handled_retry=retry.value)
        if not retry.act:
            step.event("Ignored", retry.note, warning=True)
    # Steering with nothing in flight has nothing to act on: note it, so a
    # stale annotation does not abort (or promote) the next revision.
    stale_abort = observed.annotations.get(ABORT_ANNOTATION)
    if stale_abort and stale_abort != step.status.handled_abort:
        step.update(handled_abort=stale_abort)
        step.event("Ignored", f"{ABORT_ANNOTATION} set while no rollout is in progress")
    stale_promote = observed.annotations.get(PROMOTE_ANNOTATION)
    if stale_promote and stale_promote != step.status.handled_promote:
        step.update(handled_promote=stale_promote)
        step.event("Ignored", f"{PROMOTE_ANNOTATION} set while no rollout is in progress")
    status = step.status
    revision = check_revision(spec, observed.image_source)
    if revision.is_new(status) or (
        retry is not None and retry.act and revision.wanted_hash is not None
    ):
        change = resolve_change(spec, observed.image_source)
        step.start_revision(
            RevisionState(
                change_hash=revision.wanted_hash,
                resolved_images=[ResolvedImage(container=c, image=i) for c, i in change.images],
            ),
            "new change detected" if retry is None else retry.note,
        )
        step.event(
            "RevisionStarted", f"revision {step.status.revision}: change {revision.wanted_hash}"
        )
        return
    cleanup(observed, step)
    if revision.waiting_for:
        step.update(waiting_for=revision.waiting_for)
    if step.actions:
        step.poll()


def plan_finished(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    plan_idle(spec, observed, step)
