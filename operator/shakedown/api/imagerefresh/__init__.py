"""ContainerImageRefresh: keep an image fresh, and never publish a broken one.

These models are the single source of truth for the CRD schema (see
``shakedown.api.crdgen``) and for the code that reads and writes the objects.
The Python attributes are the snake_case forms of the camelCase names on the
wire; ``examples/containerimagerefresh-*.yaml`` show the fields in use, and
README.md ("ContainerImageRefresh: how a run goes") what the operator does
with them.

The models live in ``spec``, ``run`` (one run), ``status`` and ``resource``; this package
re-exports them, so ``from shakedown.api.imagerefresh import RunPhase`` keeps
working.
"""

from shakedown.api.imagerefresh.meta import (
    MAX_HISTORY_LIMIT,
    MAX_TESTS,
    NAMES,
)
from shakedown.api.imagerefresh.resource import ContainerImageRefresh
from shakedown.api.imagerefresh.run import (
    CurrentRun,
    CurrentRunChanges,
    FailedTest,
    FailedTestChanges,
    PhaseTiming,
    PhaseTimingChanges,
    RunPhase,
    RunSummary,
    RunSummaryChanges,
    RunTrigger,
    TestPhase,
    TestRunState,
    TestRunStateChanges,
)
from shakedown.api.imagerefresh.spec import (
    ConfigMapSource,
    ContainerImageRefreshSpec,
    GitSource,
    Notify,
    NotifyEvent,
    Source,
    TestScenario,
    Triggers,
    Webhook,
)
from shakedown.api.imagerefresh.status import (
    ContainerImageRefreshStatus,
    ContainerImageRefreshStatusChanges,
    HistoryEntry,
    ObservedInputs,
    ObservedInputsChanges,
    PendingTrigger,
    PendingTriggerChanges,
)

__all__ = [
    "MAX_HISTORY_LIMIT",
    "MAX_TESTS",
    "NAMES",
    "ConfigMapSource",
    "ContainerImageRefresh",
    "ContainerImageRefreshSpec",
    "ContainerImageRefreshStatus",
    "ContainerImageRefreshStatusChanges",
    "CurrentRun",
    "CurrentRunChanges",
    "FailedTest",
    "FailedTestChanges",
    "GitSource",
    "HistoryEntry",
    "Notify",
    "NotifyEvent",
    "ObservedInputs",
    "ObservedInputsChanges",
    "PendingTrigger",
    "PendingTriggerChanges",
    "PhaseTiming",
    "PhaseTimingChanges",
    "RunPhase",
    "RunSummary",
    "RunSummaryChanges",
    "RunTrigger",
    "Source",
    "TestPhase",
    "TestRunState",
    "TestRunStateChanges",
    "TestScenario",
    "Triggers",
    "Webhook",
]
