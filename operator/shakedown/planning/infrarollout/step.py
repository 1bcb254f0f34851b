"""What one planning round reads and returns, and the accumulator the phases fill.

``Observed`` is the world as the adapters read it; ``Decision`` is what ``plan``
hands back. ``Step`` collects one decision while a phase runs; the phases get
it inside a ``context.RunContext`` (with the spec and ``Observed``), so each
phase function is ``(run) -> None``. ``Step`` knows nothing of the spec, so a
test can build one from a status alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeAlias, Unpack

from shakedown.api.infrarollout import (
    EntryChanges,
    InfraRolloutStatus,
    InfraRolloutStatusChanges,
    RevisionState,
    RolloutPhase,
)
from shakedown.planning import decision
from shakedown.planning.decision import EventNote
from shakedown.planning.infrarollout.actions import Action
from shakedown.planning.infrarollout.bake import Verdict
from shakedown.planning.infrarollout.health import with_conditions
from shakedown.planning.infrarollout.locking import holder_id
from shakedown.planning.infrarollout.objects import Obj, ObjKey
from shakedown.planning.infrarollout.revision import ImageSource
from shakedown.planning.infrarollout.shadow import RolloutIdentity
from shakedown.planning.infrarollout.smoke import CheckOutcome
from shakedown.planning.infrarollout.snapshot import SnapshotContent
from shakedown.planning.infrarollout.strategic import StrategicPreview

#: Re-observe at least this often while something is in progress (watch events come first).
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Observed:
    """Everything the planner needs to know about the world, read by the adapters."""

    name: str
    namespace: str
    uid: str
    generation: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)
    deleting: bool = False
    image_source: ImageSource | None = None
    locks: Mapping[ObjKey, str | None] = field(default_factory=dict)
    """Holder of each lock this rollout needs (None: free)."""
    snapshot: SnapshotContent | None = None
    """The stored snapshot of ``status.revision``, when it exists."""
    production: Mapping[ObjKey, Obj | None] = field(default_factory=dict)
    """Targets, their dependencies and the strategy's copies, as they are now."""
    services: Sequence[Obj] = ()
    """Every Service in the namespace (to find those that select the workloads)."""
    pods: Sequence[Obj] = ()
    """Pods in the rollout's namespace."""
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the rollout's namespace (its Pod Security levels go to the shadow)."""
    quotas: Sequence[Obj] = ()
    """ResourceQuotas and LimitRanges of the rollout's namespace (copied to the shadow)."""
    shadow_namespace: Obj | None = None
    shadow_objects: Mapping[ObjKey, Obj | None] = field(default_factory=dict)
    shadow_pods: Sequence[Obj] = ()
    shadow_events: Sequence[Obj] = ()
    """Events in the shadow namespace (the last probe failure of a pod)."""
    check_outcomes: Mapping[str, CheckOutcome] = field(default_factory=dict)
    """Finished smoke checks of ``status.revision`` (name -> outcome)."""
    strategic_previews: Mapping[int, StrategicPreview] = field(default_factory=dict)
    """Dry-run results of the strategic patches (by index), read while no snapshot exists."""

    @property
    def holder(self) -> str:
        return holder_id(self.namespace, self.name, self.uid)

    def who(self, revision: int) -> RolloutIdentity:
        return RolloutIdentity(self.name, self.namespace, self.uid, revision)


Decision: TypeAlias = decision.Decision[InfraRolloutStatus, Action]
"""The shared decision shape, with the InfraRollout's status and actions."""


class Step:
    """Accumulates one decision."""

    def __init__(self, status: InfraRolloutStatus, now: datetime, generation: int) -> None:
        self.status = status
        self.now = now
        self.generation = generation
        self.events: list[EventNote] = []
        self.actions: list[Action] = []
        self.wake_at: datetime | None = None
        self.failure: Verdict | None = None
        self.again = False
        self.paused: str | None = None
        """What resumes a paused rollout, when it is paused (kstatus reason Paused)."""

    def update(self, **changes: Unpack[InfraRolloutStatusChanges]) -> None:
        """Change status fields, checked by mypy at the call and validated here."""
        self.status = self.status.evolve(**changes)

    def start_revision(self, state: RevisionState, message: str) -> None:
        """Begin the next revision with ``state`` in place of the last one's, whole."""
        self.status = self.status.start_revision(state, now=self.now, message=message)
        self.again = True

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.events.append(EventNote("Warning" if warning else "Normal", reason, message))

    def enter(
        self,
        phase: RolloutPhase,
        message: str,
        *,
        warning: bool = False,
        **changes: Unpack[EntryChanges],
    ) -> None:
        """Record a phase transition (status first, then an Event)."""
        self.status = self.status.evolve(
            **changes, phase=phase, phase_started_at=self.now, message=message
        )
        self.event(phase.value, f"revision {self.status.revision}: {message}", warning=warning)
        self.again = True

    def enter_rollback(self, reason: str, **changes: Unpack[EntryChanges]) -> None:
        """Enter RollingBack for ``reason``: the restore of the snapshot comes next."""
        entry: EntryChanges = {
            **changes,
            "rollback_reason": reason,
            "waiting_for": "restoring the snapshot",
        }
        self.enter(RolloutPhase.ROLLING_BACK, f"rolling back: {reason}", warning=True, **entry)

    def wake(self, at: datetime | None) -> None:
        if at is not None:
            self.wake_at = at if self.wake_at is None else min(self.wake_at, at)

    def poll(self) -> None:
        self.wake(self.now + timedelta(seconds=POLL_SECONDS))

    def decision(self, *, finished: bool = False) -> Decision:
        status = self.status
        in_flight = status.revision > 0 and not status.phase.finished
        return Decision(
            status=with_conditions(status, self.generation, self.now, paused=self.paused),
            events=tuple(self.events),
            actions=tuple(self.actions),
            wake_at=self.wake_at,
            finished=finished,
            again=self.again,
            # No revision in flight and nothing left to do: only news (a spec
            # edit, a steering annotation, a promoted image) starts the next.
            idle=not (in_flight or self.again or self.actions or finished),
        )
