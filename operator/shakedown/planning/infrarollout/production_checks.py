"""The one way a check against production goes: started once, recorded, the first failure wins.

``rollback.metrics`` and ``rollback.jobs`` differ only in what starting one
means (a metric measured, a Job created) and in the reason their failure gives;
the bookkeeping in ``status.checks`` (added as Pending, Running once asked
for, Passed or Failed from its outcome, never started again once ended) is
the same, so a restarted operator asks for exactly what was not yet finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shakedown.api.infrarollout import CheckPhase, CheckStatus, CheckType
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.bake import Verdict
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.smoke import record_outcome, set_check


@dataclass(frozen=True)
class Start:
    """How to start one check, and what status.checks says while it runs."""

    action: RunCheck
    message: str
    job: str | None = None


def judge_production_checks(
    run: RunContext,
    names: Sequence[str],
    kind: CheckType,
    start: Callable[[int, CheckStatus], Start],
    reason: str,
) -> Verdict:
    """Start, record and judge the checks ``names`` (``start(index, check)`` for one not begun).

    The verdict is the first failed check's, with ``reason``; the checks go on
    being recorded after it, as they were asked for.
    """
    checks = list(run.status.checks)
    known = {c.name for c in checks}
    checks += [CheckStatus(name=n, type=kind) for n in names if n not in known]
    failure = Verdict(False)
    for index, name in enumerate(names):
        check = next(c for c in checks if c.name == name)
        if check.phase in (CheckPhase.PASSED, CheckPhase.FAILED):
            continue
        outcome = run.observed.check_outcomes.get(name)
        if outcome is None:
            started = start(index, check)
            run.step.actions.append(started.action)
            if check.phase is CheckPhase.PENDING:
                checks = set_check(
                    checks, name, CheckPhase.RUNNING, started.message, run.now, job=started.job
                )
            continue
        checks = record_outcome(checks, name, outcome, run.now)
        if not outcome.passed and not failure.failed:
            failure = Verdict(True, reason, f"{name}: {outcome.message}", observable_at=run.now)
    run.step.update(checks=checks)
    return failure
