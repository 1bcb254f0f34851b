"""The bounded list of promoted digests, and rollback to one of them.

``status.history`` is what makes rollback a one-step, no-rebuild operation:
every digest in it was tested and promoted, so it is still in the registry and
moving the tag back is a manifest PUT. A digest that is not in history was
never proven here, so ``shakedown.dev/rollback-to`` refuses it with a
``Rollback`` condition that says which digests are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    HistoryEntry,
    RunPhase,
)
from shakedown.planning.imagerefresh.observed import Action, EmitEvent, MoveTag, Observation

_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")


def record_promotion(
    history: list[HistoryEntry], *, digest: str, run_id: str, at: datetime, limit: int
) -> list[HistoryEntry]:
    """History with ``digest`` first (newest first), without older copies, at most ``limit``."""
    entry = HistoryEntry(digest=digest, promoted_at=at, run_id=run_id)
    rest = [old for old in history if old.digest != digest]
    return [entry, *rest][: max(1, limit)]


def parse_rollback_target(value: str) -> str | None:
    """The digest named by a rollback-to value (``sha256:...`` or ``repo@sha256:...``)."""
    match = _DIGEST_RE.search(value.strip())
    return match.group(0) if match else None


@dataclass(frozen=True, kw_only=True)
class RollbackDecision:
    status: ContainerImageRefreshStatus
    actions: tuple[Action, ...] = ()
    condition: tuple[str, str, str] | None = None
    """(status, reason, message) of the Rollback condition, when it changes."""


def plan_rollback(
    spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus, obs: Observation
) -> RollbackDecision:
    """Act on a new ``shakedown.dev/rollback-to`` value.

    Refused values are remembered as handled at once. An accepted one is
    handled when the tag is observed at the digest: until then the plan asks
    for the move again (which is a no-op once it happened), so a crash
    between the registry write and the status write changes nothing twice.
    While a run is promoting, the rollback waits for it to finish.
    """
    value = obs.rollback_to
    if not value or value == status.handled_rollback_to:
        return RollbackDecision(status=status)
    if status.current_run is not None and status.current_run.phase == RunPhase.PROMOTING:
        return RollbackDecision(status=status)
    digest = parse_rollback_target(value)
    known = [entry.digest for entry in status.history]
    if digest is None or digest not in known:
        shown = ", ".join(d[:19] for d in known) or "none"
        what = (
            f"{value!r} is not a digest" if digest is None else f"{digest} is not in status.history"
        )
        message = f"rollback-to refused: {what}; known digests: {shown}"
        return RollbackDecision(
            status=status.evolve(handled_rollback_to=value),
            actions=(EmitEvent(type="Warning", reason="RollbackRefused", message=message),),
            condition=("False", "DigestNotInHistory", message),
        )
    if obs.tag_resolved and obs.tag_digest == digest:
        message = f"tag {spec.tag} points to {digest} again (rollback-to)"
        return RollbackDecision(
            status=status.evolve(handled_rollback_to=value, promoted_digest=digest),
            actions=(EmitEvent(type="Normal", reason="RolledBack", message=message),),
            condition=("True", "RolledBack", message),
        )
    if not obs.tag_resolved:
        return RollbackDecision(status=status)  # ask again with the tag resolved
    return RollbackDecision(status=status, actions=(MoveTag(digest=digest, why="rollback"),))


def rollback_pending(status: ContainerImageRefreshStatus, rollback_to: str | None) -> bool:
    """Whether the handler must resolve the tag for a rollback in this pass."""
    return bool(rollback_to) and rollback_to != status.handled_rollback_to
