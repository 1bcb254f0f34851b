"""The run context: one planning round's inputs, the step it fills, and how a revision ends.

Every phase needs the spec, the observed world and the ``Step`` it records
into, and most derive the same things from them (the rollout's identity for
the revision in flight, the strategy, the shift context). Passing the three
down to every phase, ending and helper by hand repeated the same argument
lists in about fifty places; the context carries them once, so a phase reads
as its decisions. ``Step`` stays the plain accumulator (tests build one
without a spec); the context adds what the round was decided from.

The endings live here too (fail, rolling back if production was touched;
finish; clean up): every phase, the guards in ``plan`` and deletion end a
revision through them, so history, Events and cleanup are the same whichever
way it ends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    InfraRolloutStatus,
    RolloutHistoryEntry,
    RolloutPhase,
    RolloutResult,
)
from shakedown.planning.infrarollout.actions import DeleteNamespace
from shakedown.planning.infrarollout.change import ChangeError, ResolvedChange
from shakedown.planning.infrarollout.desired import desired_objects
from shakedown.planning.infrarollout.job_pruning import prune_jobs
from shakedown.planning.infrarollout.locking import plan_release
from shakedown.planning.infrarollout.objects import Meta, ObjKey
from shakedown.planning.infrarollout.revision import resolve_change
from shakedown.planning.infrarollout.rollback import plan_rollback
from shakedown.planning.infrarollout.shadow import RolloutIdentity
from shakedown.planning.infrarollout.steering import PROMOTE_ANNOTATION
from shakedown.planning.infrarollout.step import Observed, Step
from shakedown.planning.infrarollout.strategies import ShiftContext, ShiftStrategy, for_type

HISTORY_LIMIT = 10


def target_keys(spec: InfraRolloutSpec) -> tuple[ObjKey, ...]:
    return tuple(ObjKey(str(t.kind), t.name) for t in spec.targets)


def strategy_for(spec: InfraRolloutSpec) -> ShiftStrategy:
    return for_type(spec.strategy.type)


def _change_for(spec: InfraRolloutSpec, status: InfraRolloutStatus) -> ResolvedChange:
    """The change of the revision in flight: images as resolved when it started."""
    base = resolve_change(spec, None)
    resolved = tuple((i.container, i.image) for i in status.resolved_images)
    return replace(base, images=resolved or base.images)


@dataclass(frozen=True)
class RunContext:
    """One planning round of one InfraRollout; ``step`` accumulates its decision."""

    spec: InfraRolloutSpec
    observed: Observed
    step: Step

    @property
    def status(self) -> InfraRolloutStatus:
        """The status as this round has made it so far (the step's, not the stored one)."""
        return self.step.status

    @property
    def now(self) -> datetime:
        """The round's clock: the planner reads no other."""
        return self.step.now

    @property
    def who(self) -> RolloutIdentity:
        """The rollout's identity for the revision in flight (labels, owner references)."""
        return self.observed.who(self.status.revision)

    @property
    def targets(self) -> tuple[ObjKey, ...]:
        return target_keys(self.spec)

    @property
    def strategy(self) -> ShiftStrategy:
        return strategy_for(self.spec)

    def shift_context(self) -> ShiftContext:
        """What the strategy decides from, as of the status now (raises ``ChangeError``).

        Built afresh on each call, not cached: an ending that starts the
        rollback builds it from the status it has just entered.
        """
        observed, status = self.observed, self.status
        snapshot = observed.snapshot.objects if observed.snapshot is not None else {}
        targets = self.targets
        change = _change_for(self.spec, status)
        if observed.snapshot is not None:
            change = replace(change, strategic=tuple(sorted(observed.snapshot.strategic.items())))
        desired = desired_objects(snapshot, change, targets)
        promote = observed.annotations.get(PROMOTE_ANNOTATION)
        return ShiftContext(
            who=observed.who(status.revision),
            spec=self.spec,
            status=status,
            targets=targets,
            snapshot=snapshot,
            desired=desired,
            production=observed.production,
            pods=observed.pods,
            now=self.now,
            promote_requested=bool(promote) and promote != status.handled_promote,
        )

    def fail(
        self,
        reason: str,
        message: str,
        *,
        aborted: bool = False,
        ctx: ShiftContext | None = None,
        strategy: ShiftStrategy | None = None,
    ) -> None:
        """A failure: roll back if production was touched (and allowed), else end the revision."""
        step = self.step
        text = f"{reason}: {message}"
        if self.status.shift_started and (
            self.spec.rollback.automatic or aborted or self.observed.deleting
        ):
            step.enter_rollback(text)
            # Act in the same round trip: status first (done by the caller), then the restore.
            try:
                context = ctx or self.shift_context()
            except ChangeError:
                return
            rollback = plan_rollback(context, strategy or self.strategy)
            step.actions.extend(rollback.actions)
            return
        step.update(failure_reason=reason)
        if aborted:
            self.finish(RolloutPhase.ABORTED, RolloutResult.ABORTED, text, warning=True)
            return
        self.finish(RolloutPhase.FAILED, RolloutResult.FAILED, text, warning=True)

    def finish(
        self,
        phase: RolloutPhase,
        result: RolloutResult,
        message: str,
        *,
        warning: bool = False,
        history_reason: str | None = None,
    ) -> None:
        """End the revision in ``phase``: its history entry first, then the cleanup
        (and the production Jobs of revisions older than the history, ``job_pruning``)."""
        status = self.status
        entry = RolloutHistoryEntry(
            revision=status.revision,
            result=result,
            started_at=status.started_at,
            finished_at=self.now,
            reason=history_reason if history_reason is not None else message,
            change_hash=status.change_hash or "",
        )
        earlier = [h for h in status.history if h.revision != status.revision]
        history = [entry, *earlier][:HISTORY_LIMIT]
        self.step.enter(
            phase,
            message,
            warning=warning,
            history=history,
            waiting_for=None,
            current_step=status.current_step,
        )
        self.cleanup()
        if self.spec.rollback.jobs and not self.observed.deleting:
            # The history changed: the production Jobs of revisions it no longer lists go.
            self.step.actions.append(prune_jobs(self.who, history))

    def cleanup(self) -> None:
        """Leftovers of an ended revision: the shadow namespace and our locks."""
        observed = self.observed
        ns = observed.shadow_namespace
        if ns is not None and not Meta.of(ns).deleting:
            self.step.actions.append(DeleteNamespace(Meta.of(ns).name))
        self.step.actions.extend(plan_release(observed.locks, me=observed.holder))
