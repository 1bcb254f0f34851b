"""The InfraRollout is being deleted: end (or roll back) the revision, then clean up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shakedown.api.infrarollout import RolloutPhase, RolloutResult
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.objects import Meta
from shakedown.planning.infrarollout.phases.rolling_back import plan_rolling_back
from shakedown.planning.infrarollout.step import Decision


def plan_deletion(run: RunContext) -> Decision:
    status = run.status
    if status.revision > 0 and not status.phase.finished:
        if status.shift_started and status.phase is not RolloutPhase.ROLLING_BACK:
            run.fail("Deleted", "the InfraRollout is being deleted", aborted=True)
            return run.step.decision()
        if status.phase is RolloutPhase.ROLLING_BACK:
            plan_rolling_back(run)
            return run.step.decision()
        run.finish(RolloutPhase.ABORTED, RolloutResult.ABORTED, "deleted before the shift")
        return run.step.decision()
    run.cleanup()
    ns = run.observed.shadow_namespace
    gone = ns is None or Meta.of(ns).deleting
    done = not run.step.actions and gone
    if not done:
        run.step.poll()
    return run.step.decision(finished=done)


def needs_finalizer(status: Mapping[str, Any] | None) -> bool:
    """Whether deleting the rollout must wait for the operator to clean up first.

    Only a revision in flight can leave something behind that nothing else
    removes: production part-way shifted, a shadow namespace being tested.
    A rollout that never started or has ended has none (its locks and
    snapshots go with it by owner references, and the sweeper removes a
    shadow whose owner is gone), so it carries no finalizer and a thousand of
    them delete at once. A status that does not parse keeps the finalizer.
    """
    raw = dict(status or {})
    try:
        revision = int(raw.get("revision") or 0)
        phase = RolloutPhase(raw.get("phase") or RolloutPhase.PENDING.value)
    except (TypeError, ValueError):
        return True
    return revision > 0 and not phase.finished
