"""The vocabulary every phase of a run shares: names, summaries, timings.

Kept apart from the phases so that build, test, promote and the endings can
each be read alone, and so that a Job name computed by the planner and by
``logs_wanted`` can never drift apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    CurrentRun,
    FailedTest,
    PhaseTiming,
    RunSummary,
    TestPhase,
    TestRunState,
)
from shakedown.planning.imagerefresh.observed import Action
from shakedown.planning.imagerefresh.observed import Resource as Resource

#: Kubernetes Job names end up in the ``job-name`` label: at most 63 characters.
MAX_JOB_NAME = 63
#: Finished runs kept in status.recentRuns.
RECENT_RUNS = 5
#: Extra seconds given to a Job's activeDeadlineSeconds beyond the timeout the
#: planner enforces, so the planner (which captures logs) normally acts first.
DEADLINE_GRACE_SECONDS = 60

#: A pod whose container cannot start (image pull, configuration) fails its step
#: after this long instead of waiting for the step's timeout.
START_GRACE_SECONDS = 90
_STUCK_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)

FINISHED_TESTS = frozenset({TestPhase.PASSED, TestPhase.FAILED, TestPhase.ERROR})


@dataclass(frozen=True, kw_only=True)
class Step:
    """A planning step: the next status and what to do once it is stored."""

    status: ContainerImageRefreshStatus
    actions: tuple[Action, ...] = ()


# --------------------------------------------------------------------------- names
def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-.')}-{digest}"


def build_job_name(resource: Resource, run_id: str) -> str:
    """Name of the build Job of a run (deterministic)."""
    return _bounded(f"{resource.name}-{run_id}-build", MAX_JOB_NAME)


def scenario_job_name(resource: Resource, run_id: str, scenario: str) -> str:
    """Name of the Job running one scenario of a run (deterministic)."""
    return _bounded(f"{resource.name}-{run_id}-test-{scenario}", MAX_JOB_NAME)


def candidate_tag(resource: Resource, run_id: str) -> str:
    """The run's own tag for the candidate push; the consumer tag is never pushed to."""
    return _bounded(f"shakedown-{resource.namespace}-{resource.name}-run-{run_id}", 128)


def next_run_id(status: ContainerImageRefreshStatus) -> str:
    """Run ids count up from 1 per resource."""
    numbers = [0]
    for run in (status.current_run, status.last_run, *status.recent_runs):
        if run is not None and run.id.isdigit():
            numbers.append(int(run.id))
    return str(max(numbers) + 1)


# --------------------------------------------------------------------------- summaries
def phase_seconds(summary: RunSummary) -> dict[str, float]:
    """Duration of each finished phase, plus ``Run`` for the whole run."""
    spans = [(phase.name, phase.seconds) for phase in summary.phases]
    return {name: s for name, s in [*spans, ("Run", summary.seconds)] if s is not None}


#: What a summary takes over from the run in flight: every field the two models share.
_FROM_RUN = sorted(RunSummary.model_fields.keys() & CurrentRun.model_fields.keys())


def summarize(
    run: CurrentRun, *, now: datetime | None, failed: list[FailedTest] | None = None
) -> RunSummary:
    """The user-facing record of a run (``now`` is its end, None while it runs).

    The fields both models have (id, trigger, phase, start, digest, revision,
    message, phase timings) are the run's own, taken by name: the models are
    the one list of them, so a field added to both is summarized without a
    second list here to keep in step.
    """
    taken = {name: getattr(run, name) for name in _FROM_RUN}
    return RunSummary.model_validate({**taken, "finished_at": now, "failed_tests": failed or []})


def with_run(status: ContainerImageRefreshStatus, run: CurrentRun) -> ContainerImageRefreshStatus:
    """The status with ``run`` in flight, mirrored into lastRun for ``get``."""
    return status.evolve(current_run=run, last_run=summarize(run, now=None))


def without_logs(summary: RunSummary) -> RunSummary:
    """A summary small enough to keep several of in recentRuns."""
    return summary.evolve(
        failed_tests=[f.evolve(log_tail="") for f in summary.failed_tests],
        message=summary.message.split("\n--- log tail ---", 1)[0],
    )


# --------------------------------------------------------------------------- helpers
def cannot_start(reason: str, waited: timedelta) -> bool:
    """A pod stuck before its container runs (image pull, bad config) for too long."""
    return reason.startswith(_STUCK_REASONS) and waited.total_seconds() >= START_GRACE_SECONDS


def ended(
    test: TestRunState, phase: TestPhase, reason: str, log_tail: str, at: datetime
) -> TestRunState:
    """A scenario closed with its outcome, its reason and log bounded for status."""
    return test.evolve(
        phase=phase,
        reason=reason[:256],
        log_tail=log_tail[-16384:],
        finished_at=at,
        started_at=test.started_at or at,
    )


def timing(
    phases: list[PhaseTiming],
    name: str,
    *,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> list[PhaseTiming]:
    """Phase timings with ``name`` opened or closed; a known start is never moved."""
    out: list[PhaseTiming] = []
    found = False
    for phase in phases:
        if phase.name == name:
            found = True
            phase = phase.evolve(
                started_at=phase.started_at or started, finished_at=finished or phase.finished_at
            )
        out.append(phase)
    if not found:
        out.append(PhaseTiming(name=name, started_at=started or finished, finished_at=finished))
    return out


def phase_start(run: CurrentRun, name: str) -> datetime | None:
    """When phase ``name`` of the run began, if it did."""
    for phase in run.phases:
        if phase.name == name:
            return phase.started_at
    return None


def tail_suffix(log_tail: str) -> str:
    """A log tail appended to a message, so the failure shows why without kubectl."""
    tail = log_tail.strip()
    return f"\n--- log tail ---\n{tail[-4000:]}" if tail else ""


def describe_source(spec: ContainerImageRefreshSpec, revision: str | None) -> str:
    """Where the image is built from, for events."""
    if spec.source.git is not None:
        git = spec.source.git
        where = f"{git.url}@{revision or git.revision}"
        return f"{where} ({git.context_dir})" if git.context_dir else where
    assert spec.source.config_map is not None
    return f"ConfigMap {spec.source.config_map.name}"
