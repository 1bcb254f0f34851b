"""Whether a workload finished rolling out: the controllers' own status, read plainly.

Used to decide when a shift step is done, when the shadow copies are up, and
when production is healthy again after a rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shakedown.planning.infrarollout.objects import Meta, replicas


@dataclass(frozen=True)
class Progress:
    done: bool
    message: str


def rollout_progress(obj: Mapping[str, Any] | None) -> Progress:
    if obj is None:
        return Progress(False, "not found")
    kind = obj.get("kind")
    name = Meta.of(obj).name
    status = obj.get("status") or {}
    generation = Meta.of(obj).generation
    if status.get("observedGeneration", 0) < generation:
        return Progress(False, f"{kind}/{name}: controller has not seen generation {generation}")
    if kind == "Deployment":
        want = replicas(obj)
        have = {
            "updated": status.get("updatedReplicas", 0),
            "ready": status.get("readyReplicas", 0),
            "available": status.get("availableReplicas", 0),
            "total": status.get("replicas", 0),
        }
        done = all(v == want for v in have.values())
        return Progress(
            done,
            f"{kind}/{name}: {have['ready']}/{want} ready,"
            f" {have['updated']} updated, {have['total']} total",
        )
    if kind == "StatefulSet":
        want = replicas(obj)
        ready = status.get("readyReplicas", 0)
        updated = status.get("updatedReplicas", 0)
        same_revision = status.get("currentRevision") == status.get("updateRevision")
        done = (
            ready == want
            and status.get("replicas", 0) == want
            and (updated == want or same_revision)
        )
        return Progress(done, f"{kind}/{name}: {ready}/{want} ready, {updated} updated")
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
        updated = status.get("updatedNumberScheduled", 0)
        done = ready == want and updated == want and status.get("numberAvailable", 0) == want
        return Progress(done, f"{kind}/{name}: {ready}/{want} ready, {updated} updated")
    return Progress(True, f"{kind}/{name}: nothing to roll out")


#: A quota just created has no usage yet; the controller retries and it clears.
_TRANSIENT_FAILURES = ("status unknown for quota",)


def replica_failure(obj: Mapping[str, Any] | None) -> str | None:
    """Why the controller cannot create pods (``ReplicaFailure``), e.g. refused at admission.

    Pod Security and quotas refuse the pods, not the workload, so this
    condition is where the admission message shows; it never clears by waiting.
    """
    for condition in (obj or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") != "ReplicaFailure" or condition.get("status") != "True":
            continue
        message = str(condition.get("message") or "")
        if any(t in message for t in _TRANSIENT_FAILURES):
            continue
        return f"{condition.get('reason') or 'ReplicaFailure'}: {message}".strip()
    return None
