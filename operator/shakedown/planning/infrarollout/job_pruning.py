"""Which of its production-check Jobs a rollout keeps: those of the revisions its history lists.

Every revision whose change went live leaves one finished Job per
``rollback.jobs`` check in production, with its pod: a team rolling five
changes a day would collect thousands a year in the namespace it runs in.
Argo Rollouts caps its AnalysisRuns for the same reason. ``status.history``
is what a person looks back at (``kubectl get iro -o yaml``, ``shakedown
get``), so the Jobs of its revisions stay, their logs explaining a rollback;
older ones are deleted, their pods with them (propagation Background).

When: as a revision ends (``context.RunContext.finish``), the one moment the
history changes, and only for a rollout with ``rollback.jobs``, so a rollout
with nothing to do lists nothing. A prune lost to a crash between the status
write and the act is done by the next revision's end, which deletes every Job
not kept, not only the newest to fall out. A rollout being deleted prunes
nothing: its Jobs go with it (owner references). Jobs in a shadow namespace
go with that namespace.

Only a Job that carries this rollout's labels (name, namespace and a check
name) and is owned by this very rollout (its uid) is ever deleted: never a
person's Job, never one of a rollout of the same name in another namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shakedown.api.infrarollout import RolloutHistoryEntry
from shakedown.planning.infrarollout.actions import PruneJobs
from shakedown.planning.infrarollout.objects import (
    CHECK_LABEL,
    REVISION_LABEL,
    ROLLOUT_LABEL,
    ROLLOUT_NAMESPACE_LABEL,
    Obj,
)
from shakedown.planning.infrarollout.shadow import RolloutIdentity


def prune_jobs(who: RolloutIdentity, history: Sequence[RolloutHistoryEntry]) -> PruneJobs:
    """The prune as a revision ends: keep the revisions of ``history`` (the one ending included)."""
    keep = frozenset({h.revision for h in history} | {who.revision})
    return PruneJobs(namespace=who.namespace, rollout=who.name, uid=who.uid, keep=keep)


def selector(action: PruneJobs) -> str:
    """The label selector that lists this rollout's check Jobs (any revision)."""
    return (
        f"{ROLLOUT_LABEL}={action.rollout},"
        f"{ROLLOUT_NAMESPACE_LABEL}={action.namespace},"
        f"{CHECK_LABEL}"
    )


@dataclass(frozen=True)
class Prunable:
    """A Job to delete; deleted only while it is still the object of this uid."""

    name: str
    uid: str | None
    revision: int


def prunable(jobs: Iterable[Obj], action: PruneJobs) -> list[Prunable]:
    """Of ``jobs`` (listed by ``selector``), those to delete.

    Checked here again, not trusted to the selector: a Job missing one of
    the labels, owned by another object, of a revision that does not parse, or
    already going away is left alone.
    """
    out = []
    for job in jobs:
        meta = job.get("metadata") or {}
        labels = meta.get("labels") or {}
        ours = (
            labels.get(ROLLOUT_LABEL) == action.rollout
            and labels.get(ROLLOUT_NAMESPACE_LABEL) == action.namespace
            and CHECK_LABEL in labels
            and meta.get("namespace", action.namespace) == action.namespace
            and any(o.get("uid") == action.uid for o in meta.get("ownerReferences") or [])
        )
        if not ours or meta.get("deletionTimestamp") or not meta.get("name"):
            continue
        try:
            revision = int(str(labels.get(REVISION_LABEL)))
        except ValueError:
            continue
        if revision not in action.keep:
            out.append(Prunable(str(meta["name"]), meta.get("uid"), revision))
    return sorted(out, key=lambda p: (p.revision, p.name))
