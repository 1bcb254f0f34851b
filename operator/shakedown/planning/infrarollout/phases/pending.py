"""Phase 1, Pending: take the locks on the targets (prove-only needs none)."""

from __future__ import annotations

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.locking import plan_locks
from shakedown.planning.infrarollout.objects import ObjKey


def plan_pending(run: RunContext) -> None:
    if not run.spec.promote:
        # Prove-only never touches production, so it neither needs nor blocks its locks.
        run.step.enter(
            RolloutPhase.SNAPSHOTTING,
            "snapshotting production (prove only: promote is false)",
            started_at=run.now,
            waiting_for=None,
        )
        return
    observed = run.observed
    needed = lock_keys(run.spec)
    locks = plan_locks(needed, observed.locks, me=observed.holder, owner=run.who.owner_reference())
    if locks.held:
        run.step.enter(
            RolloutPhase.SNAPSHOTTING,
            "snapshotting production",
            started_at=run.now,
            waiting_for=None,
        )
        return
    if locks.blocked_by:
        waiting = f"waiting for {locks.blocked_by}"
        if run.status.waiting_for != waiting:
            run.step.event("Waiting", waiting)
        run.step.update(waiting_for=waiting, message=waiting)
        run.step.poll()
        return
    run.step.actions.extend(locks.actions)
    run.step.again = True


def lock_keys(spec: InfraRolloutSpec) -> list[ObjKey]:
    keys = [ObjKey(str(t.kind), t.name) for t in spec.targets]
    blue_green = spec.strategy.blue_green
    if blue_green is not None and blue_green.service:
        keys.append(ObjKey("Service", blue_green.service))
    return keys
