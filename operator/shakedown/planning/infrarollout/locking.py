"""Two rollouts that touch the same object never interleave.

Each object a rollout will change is guarded by a Lease in its namespace,
named after the object; creating a Lease is atomic, so exactly one rollout
holds it. Locks are taken in one global order (sorted keys), which rules out
two rollouts each holding half of what the other needs. A rollout holds its
locks from before the snapshot until its revision ends; the Lease is owned by
the InfraRollout, so deleting the rollout frees it even if the operator is
gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from shakedown.planning.infrarollout.actions import AcquireLock, ReleaseLock
from shakedown.planning.infrarollout.objects import Obj, ObjKey


def lease_name(key: ObjKey) -> str:
    base = f"shakedown-lock-{key.kind.lower()}-{key.name}"
    if len(base) <= 253:
        return base
    return f"shakedown-lock-{hashlib.sha256(str(key).encode()).hexdigest()[:32]}"


def holder_id(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}/{name}/{uid}"


def holder_name(holder: str) -> str:
    """The InfraRollout name inside a holder id."""
    parts = holder.split("/")
    return parts[1] if len(parts) >= 2 else holder


@dataclass(frozen=True)
class LockPlan:
    actions: tuple[AcquireLock, ...]
    held: bool
    """All locks are ours."""
    blocked_by: str | None
    """'InfraRollout other (holds Deployment/web)' when another rollout holds one."""


def plan_locks(
    needed: Collection[ObjKey], holders: Mapping[ObjKey, str | None], *, me: str, owner: Obj
) -> LockPlan:
    actions: list[AcquireLock] = []
    for key in sorted(set(needed)):
        holder = holders.get(key)
        if holder == me:
            continue
        if holder is None:
            actions.append(AcquireLock(lease_name(key), key, me, owner))
            # Take one at a time in order: the next one only once this one is ours.
            return LockPlan(tuple(actions), False, None)
        return LockPlan((), False, f"InfraRollout {holder_name(holder)} (holds {key})")
    return LockPlan((), True, None)


def plan_release(holders: Mapping[ObjKey, str | None], *, me: str) -> tuple[ReleaseLock, ...]:
    return tuple(
        ReleaseLock(lease_name(key), me) for key, holder in sorted(holders.items()) if holder == me
    )
