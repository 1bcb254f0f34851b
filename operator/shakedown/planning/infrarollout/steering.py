"""Retry and undo: the two steering annotations that act on an ended revision.

- ``shakedown.dev/retry`` (any new value): run the same change again as a new
  revision. A change that failed or was rolled back is otherwise not retried
  until it changes (see ``revision``), which is right for a GitOps tool but
  leaves a person no way to say "that was a flaky check, try again".
- ``shakedown.dev/undo`` (``"<revision> requested-at=<time>"``): restore
  production from the snapshot taken when that revision started, i.e. undo that
  revision and every later one (Argo's ``undo``). The rollout ends RolledBack;
  the spec is not touched, so the change stays declared and a retry re-runs it.

Both are honoured only while no revision is in flight. A third one is a state,
not a request, like Argo's ``spec.paused``:

- ``shakedown.dev/paused: "true"``: while Shifting, production is held where it
  is (no next canary step, no full promotion); checks still judge the pods and a
  failure still rolls back. Removing it (``shakedown resume iro``) continues.

These functions are pure; ``plan`` calls them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shakedown.api import annotations as keys
from shakedown.api.infrarollout import InfraRolloutStatus, RolloutPhase

PROMOTE_ANNOTATION = keys.PROMOTE
ABORT_ANNOTATION = keys.ABORT
RETRY_ANNOTATION = keys.RETRY
UNDO_ANNOTATION = keys.UNDO
PAUSED_ANNOTATION = keys.PAUSED
HOLD_NOTE = "paused by shakedown.dev/paused (shakedown resume iro NAME continues)"

#: Ended revisions a retry may re-run (a succeeded one has nothing to retry).
RETRYABLE = frozenset({RolloutPhase.FAILED, RolloutPhase.ROLLED_BACK, RolloutPhase.ABORTED})


def undo_value(revision: int, requested_at: str) -> str:
    return f"{revision} requested-at={requested_at}"


def parse_undo(value: str) -> int | None:
    """The revision an undo value names; None when it names none."""
    head = value.split(" ", 1)[0]
    return int(head) if head.isdigit() and int(head) > 0 else None


@dataclass(frozen=True)
class Request:
    """A new steering value: whether to act on it, and what to say."""

    value: str
    act: bool
    note: str


def retry_request(status: InfraRolloutStatus, annotations: Mapping[str, str]) -> Request | None:
    value = annotations.get(RETRY_ANNOTATION)
    if not value or value == status.handled_retry:
        return None
    if status.revision > 0 and status.phase in RETRYABLE:
        return Request(value, True, f"retrying revision {status.revision}'s change")
    return Request(
        value, False, f"{RETRY_ANNOTATION} ignored: the last revision is {status.phase.value}"
    )


def undo_request(status: InfraRolloutStatus, annotations: Mapping[str, str]) -> Request | None:
    value = annotations.get(UNDO_ANNOTATION)
    if not value or value == status.handled_undo:
        return None
    target = parse_undo(value)
    if target is None or target > status.revision:
        return Request(
            value,
            False,
            f"{UNDO_ANNOTATION} ignored: {value!r} names no revision up to {status.revision}",
        )
    return Request(value, True, f"Undone: {UNDO_ANNOTATION} to the snapshot of revision {target}")


def snapshot_revision(status: InfraRolloutStatus) -> int:
    """The revision whose stored snapshot production is restored from."""
    return status.undo_revision or status.revision


def held(annotations: Mapping[str, str]) -> bool:
    """Whether a person paused the shift."""
    return annotations.get(PAUSED_ANNOTATION, "").lower() == "true"
