"""What the planner asks the adapters to do; each action is idempotent by construction.

Objects carry the hash of their desired content in an annotation, so applying
the same action twice changes nothing, and the planner only asks for an apply
when the observed hash differs. Snapshots are created, never updated; deletes
of what is already gone succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shakedown.api.infrarollout import CheckType

# The Events of a decision are one type for both kinds; re-exported for the phases.
from shakedown.planning.decision import EventNote as EventNote
from shakedown.planning.infrarollout.objects import Obj, ObjKey


@dataclass(frozen=True)
class Apply:
    """Create or replace one object so that it equals ``obj`` (applied-hash annotated)."""

    namespace: str
    obj: Obj
    why: str = ""

    @property
    def key(self) -> ObjKey:
        return ObjKey.of(self.obj)


@dataclass(frozen=True)
class Delete:
    namespace: str
    key: ObjKey
    why: str = ""


@dataclass(frozen=True)
class EnsureNamespace:
    manifest: Obj


@dataclass(frozen=True)
class DeleteNamespace:
    name: str


@dataclass(frozen=True)
class StoreSnapshot:
    """Create the snapshot Secret once; an existing one is kept as it is."""

    name: str
    data: dict[str, str]
    labels: dict[str, str]
    owner: Obj


@dataclass(frozen=True)
class AcquireLock:
    lease: str
    key: ObjKey
    holder: str
    owner: Obj


@dataclass(frozen=True)
class ReleaseLock:
    lease: str
    holder: str


@dataclass(frozen=True)
class RunCheck:
    """Start a smoke check (HTTP, Job, Metric) unless it already runs for this revision."""

    name: str
    type: CheckType
    namespace: str
    revision: int
    spec: Obj = field(default_factory=dict)
    image: str | None = None
    """Candidate image (for Job checks without an image of their own)."""
    field: str = ""
    """Path of the check in the spec (``spec.smokeTests.metrics[0]``), for messages."""


@dataclass(frozen=True)
class PruneJobs:
    """Delete this rollout's production-check Jobs (and their pods) of revisions not in
    ``keep`` (``planning.infrarollout.job_pruning`` says which Jobs are this rollout's)."""

    namespace: str
    rollout: str
    uid: str
    """The rollout's uid: only Jobs it owns may go."""
    keep: frozenset[int]


Action = (
    Apply
    | Delete
    | EnsureNamespace
    | DeleteNamespace
    | StoreSnapshot
    | AcquireLock
    | ReleaseLock
    | RunCheck
    | PruneJobs
)
