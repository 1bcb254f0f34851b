"""Phase 1, Pending: take the locks on the targets (prove-only needs none)."""

from __future__ import annotations

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout.locking import plan_locks
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.step import Observed, Step


def plan_pending(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
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
