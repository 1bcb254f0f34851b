"""InfraRollout: prove a change to deployed infrastructure, then shift production.

These models are the single source of truth for the CRD schema (see
``shakedown.api.crdgen``) and for the code that reads and writes the objects.
The objects in ``examples/infrarollout-*.yaml`` show the fields in use, and
README.md ("InfraRollout: how a rollout runs") what the operator does with them.

The models live in one module per part of the object (``change``, ``proof``,
``strategy``, ``spec``, ``status``, ``resource``); this package re-exports them,
so ``from shakedown.api.infrarollout import InfraRolloutSpec`` keeps working.
"""

from shakedown.api.infrarollout.change import (
    WORKLOAD_KINDS,
    Change,
    ImageChange,
    ImageFrom,
    Patch,
    PatchType,
    Target,
    TargetKind,
)
from shakedown.api.infrarollout.meta import (
    MAX_CHECKS,
    MAX_READY_TIMEOUT,
    MAX_STEPS,
    MAX_TARGETS,
    NAMES,
)
from shakedown.api.infrarollout.proof import (
    HttpCheck,
    HttpScheme,
    JobCheck,
    MetricCheck,
    ProductionJobCheck,
    Shadow,
    SmokeTests,
)
from shakedown.api.infrarollout.resource import InfraRollout
from shakedown.api.infrarollout.spec import InfraRolloutSpec
from shakedown.api.infrarollout.status import (
    CheckPhase,
    CheckStatus,
    CheckStatusChanges,
    CheckType,
    EntryChanges,
    InfraRolloutStatus,
    InfraRolloutStatusChanges,
    ResolvedImage,
    RevisionState,
    RolloutHistoryEntry,
    RolloutPhase,
    RolloutResult,
    Snapshot,
    SnapshotTarget,
)
from shakedown.api.infrarollout.strategy import (
    BlueGreen,
    Canary,
    CanaryStep,
    Rollback,
    Strategy,
    StrategyType,
)

__all__ = [
    "MAX_CHECKS",
    "MAX_READY_TIMEOUT",
    "MAX_STEPS",
    "MAX_TARGETS",
    "NAMES",
    "WORKLOAD_KINDS",
    "BlueGreen",
    "Canary",
    "CanaryStep",
    "Change",
    "CheckPhase",
    "CheckStatus",
    "CheckStatusChanges",
    "CheckType",
    "EntryChanges",
    "HttpCheck",
    "HttpScheme",
    "ImageChange",
    "ImageFrom",
    "InfraRollout",
    "InfraRolloutSpec",
    "InfraRolloutStatus",
    "InfraRolloutStatusChanges",
    "JobCheck",
    "MetricCheck",
    "Patch",
    "PatchType",
    "ProductionJobCheck",
    "ResolvedImage",
    "RevisionState",
    "Rollback",
    "RolloutHistoryEntry",
    "RolloutPhase",
    "RolloutResult",
    "Shadow",
    "SmokeTests",
    "Snapshot",
    "SnapshotTarget",
    "Strategy",
    "StrategyType",
    "Target",
    "TargetKind",
]
