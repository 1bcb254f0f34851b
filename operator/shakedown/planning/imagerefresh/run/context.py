"""The run context: everything one planning step of a run is decided from.

Each phase used to pass ``spec, status, run, obs`` down to every ending by
hand; the context carries them once, and its methods name the ways a step can
go (stay, move on, fail, validate, succeed), so a phase reads as its
decisions rather than as argument lists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    FailedTest,
    RunPhase,
)
from shakedown.planning.imagerefresh.observed import Action, Observation
from shakedown.planning.imagerefresh.run import endings
from shakedown.planning.imagerefresh.run.records import Resource, Step, with_run


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """One step of the run in flight; ``run`` may be newer than ``status.current_run``."""

    spec: ContainerImageRefreshSpec
    status: ContainerImageRefreshStatus
    run: CurrentRun
    observed: Observation
    resource: Resource

    @classmethod
    def of(
        cls,
        spec: ContainerImageRefreshSpec,
        status: ContainerImageRefreshStatus,
        observed: Observation,
        resource: Resource,
    ) -> RunContext | None:
        """The context of the run in flight, None when there is none."""
        run = status.current_run
        if run is None:
            return None
        return cls(spec=spec, status=status, run=run, observed=observed, resource=resource)

    @property
    def now(self) -> datetime:
        """The observation's clock: the planner reads no other."""
        return self.observed.now

    def with_run(self, run: CurrentRun) -> RunContext:
        """The context with ``run`` as it now stands, not yet stored in status."""
        return replace(self, run=run)

    def recorded(self, run: CurrentRun) -> RunContext:
        """The context with ``run`` stored in status as the run in flight."""
        return replace(self, run=run, status=with_run(self.status, run))

    def stay(self, *actions: Action) -> Step:
        """Keep the status as it is; only act."""
        return Step(status=self.status, actions=actions)

    def move(self, run: CurrentRun, *actions: Action) -> Step:
        """Store ``run`` as the run in flight, then act."""
        return Step(status=with_run(self.status, run), actions=actions)

    def fail(
        self,
        message: str,
        *,
        failed: list[FailedTest] | None = None,
        extra: tuple[Action, ...] = (),
    ) -> Step:
        """End the run as Failed; ``extra`` actions come before the ending's own."""
        return self.end(RunPhase.FAILED, message, failed=failed, extra=extra)

    def validate(self, message: str, *, extra: tuple[Action, ...] = ()) -> Step:
        """End the run as Validated: tests passed, the tag is left alone."""
        return self.end(RunPhase.VALIDATED, message, extra=extra)

    def succeed(self, message: str) -> Step:
        """End the run as Succeeded: the tag was observed at the candidate."""
        return self.end(RunPhase.SUCCEEDED, message)

    def end(
        self,
        phase: RunPhase,
        message: str,
        *,
        failed: list[FailedTest] | None = None,
        extra: tuple[Action, ...] = (),
    ) -> Step:
        """End the run in ``phase``; see ``endings.finish``."""
        return endings.finish(
            spec=self.spec,
            status=self.status,
            run=self.run,
            observed=self.observed,
            phase=phase,
            message=message,
            failed=failed,
            extra=extra,
        )
