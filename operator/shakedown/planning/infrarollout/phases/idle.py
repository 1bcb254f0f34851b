"""No revision in flight: steering on an ended revision, new revisions, leftovers."""

from __future__ import annotations

from shakedown.api.infrarollout import ResolvedImage, RevisionState, RolloutPhase
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.revision import check_revision, resolve_change
from shakedown.planning.infrarollout.steering import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    parse_undo,
    retry_request,
    undo_request,
)


def plan_idle(run: RunContext) -> None:
    abort = run.observed.annotations.get(ABORT_ANNOTATION)
    if (
        abort
        and abort != run.status.handled_abort
        and run.status.phase is RolloutPhase.FAILED
        and run.status.shift_started
    ):
        # rollback.automatic was off and production failed: a person decides to roll back.
        run.step.update(handled_abort=abort)
        run.step.enter_rollback("Aborted: shakedown.dev/abort after a failure")
        return
    undo = undo_request(run.status, run.observed.annotations)
    if undo is not None:
        run.step.update(handled_undo=undo.value)
        if undo.act:
            target = parse_undo(undo.value)
            run.step.enter_rollback(undo.note, undo_revision=target)
            return
        run.step.event("Ignored", undo.note, warning=True)
    retry = retry_request(run.status, run.observed.annotations)
    if retry is not None:
        run.step.update(handled_retry=retry.value)
        if not retry.act:
            run.step.event("Ignored", retry.note, warning=True)
    # Steering with nothing in flight has nothing to act on: note it, so a
    # stale annotation does not abort (or promote) the next revision.
    stale_abort = run.observed.annotations.get(ABORT_ANNOTATION)
    if stale_abort and stale_abort != run.status.handled_abort:
        run.step.update(handled_abort=stale_abort)
        run.step.event("Ignored", f"{ABORT_ANNOTATION} set while no rollout is in progress")
    stale_promote = run.observed.annotations.get(PROMOTE_ANNOTATION)
    if stale_promote and stale_promote != run.status.handled_promote:
        run.step.update(handled_promote=stale_promote)
        run.step.event("Ignored", f"{PROMOTE_ANNOTATION} set while no rollout is in progress")
    revision = check_revision(run.spec, run.observed.image_source)
    if revision.is_new(run.status) or (
        retry is not None and retry.act and revision.wanted_hash is not None
    ):
        change = resolve_change(run.spec, run.observed.image_source)
        run.step.start_revision(
            RevisionState(
                change_hash=revision.wanted_hash,
                resolved_images=[ResolvedImage(container=c, image=i) for c, i in change.images],
            ),
            "new change detected" if retry is None else retry.note,
        )
        run.step.event(
            "RevisionStarted", f"revision {run.status.revision}: change {revision.wanted_hash}"
        )
        return
    run.cleanup()
    if revision.waiting_for:
        run.step.update(waiting_for=revision.waiting_for)
    if run.step.actions:
        run.step.poll()


def plan_finished(run: RunContext) -> None:
    plan_idle(run)
