"""InfraRollout kstatus conditions: Ready/Reconciling/Stalled derived from the phase.

Kept apart from the phases so that every decision gets its conditions the same
way, whichever phase produced it.
"""

from __future__ import annotations

from datetime import datetime

from shakedown.api.infrarollout import InfraRolloutStatus, RolloutPhase
from shakedown.conditions import PAUSED, Health, with_health
from shakedown.planning.infrarollout.steering import PROMOTE_ANNOTATION


def pause_message(name: str, step_index: int | None, until: datetime) -> str:
    """What resumes a paused canary, for the condition message and ``waitingFor``."""
    where = f"canary step {step_index + 1}" if step_index is not None else "canary"
    return (
        f"{where} paused: waiting for `shakedown promote iro {name}` "
        f"(annotation {PROMOTE_ANNOTATION}) or until {until:%Y-%m-%dT%H:%M:%SZ}"
    )


def with_conditions(
    status: InfraRolloutStatus, generation: int, now: datetime, *, paused: str | None = None
) -> InfraRolloutStatus:
    """Ready/Reconciling/Stalled from the phase; a pause is Reconciling with reason Paused.

    A dashboard tells "waiting for you" from "working" by the reason alone, and
    the message says what resumes it.
    """
    phase = status.phase
    if paused is not None and phase is RolloutPhase.SHIFTING:
        health, reason, message = Health.RECONCILING, PAUSED, paused
    elif status.revision == 0:
        health, reason = Health.RECONCILING, "WaitingForChange"
        message = status.waiting_for or "no revision yet"
    elif phase is RolloutPhase.SUCCEEDED:
        health, reason, message = Health.READY, "Succeeded", status.message
    elif phase is RolloutPhase.VALIDATED:
        health, reason, message = Health.READY, "Validated", status.message
    elif phase is RolloutPhase.FAILED:
        health, reason, message = Health.STALLED, status.failure_reason or "Failed", status.message
    elif phase in (RolloutPhase.ROLLED_BACK, RolloutPhase.ABORTED):
        health, reason, message = Health.STALLED, phase.value, status.message
    elif phase is RolloutPhase.PENDING and status.waiting_for:
        health, reason, message = Health.RECONCILING, "WaitingForLock", status.waiting_for
    else:
        health, reason = Health.RECONCILING, phase.value
        message = status.waiting_for or status.message
    conditions = with_health(
        status.conditions,
        health,
        reason=reason,
        message=message or phase.value,
        generation=generation,
        at=now,
    )
    return status.evolve(conditions=conditions, observed_generation=generation)
