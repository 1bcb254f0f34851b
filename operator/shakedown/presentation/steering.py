"""The annotations people steer objects with, and how each request is planned.

Pure: an object in, the annotation to set (or, for suspend and resume, the spec
patch) out. The CLI's commands and the dashboard's buttons both call these, so
a button sets exactly what its command sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shakedown.api.annotations import ABORT, PROMOTE, ROLLBACK_TO, RUN_REQUESTED
from shakedown.api.common import DIGEST_PATTERN
from shakedown.presentation.errors import UserError

__all__ = [
    "ABORT",
    "PROMOTE",
    "ROLLBACK_TO",
    "RUN_REQUESTED",
    "Patch",
    "Steer",
    "annotate",
    "fresh_value",
    "plan_abort",
    "plan_promote",
    "plan_resume_refresh",
    "plan_rollback",
    "plan_suspend_refresh",
    "plan_trigger",
]

Obj = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Patch:
    """A merge patch for the object, and what to tell the user."""

    body: Mapping[str, Any]
    says: str
    needs_snapshot: int | None = None
    """Revision whose snapshot Secret must exist (undo checks before patching)."""


def annotate(key: str, value: str | None) -> dict[str, Any]:
    """The merge patch that sets (or, with None, removes) one annotation."""
    return {"metadata": {"annotations": {key: value}}}


@dataclass(frozen=True, kw_only=True)
class Steer:
    """One annotation to set, and what to tell the user."""

    annotation: str
    value: str
    says: str

    def patch(self) -> Patch:
        return Patch(body=annotate(self.annotation, self.value), says=self.says)


def fresh_value(now: datetime | None = None) -> str:
    """A value that differs from every earlier one: the time to the microsecond."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _annotations(obj: Obj) -> Mapping[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _request(annotation: str, says: str, now: datetime | None) -> Steer:
    """A request the operator acts on once per new value (trigger, promote, abort)."""
    return Steer(annotation=annotation, value=fresh_value(now), says=says)


def plan_trigger(obj: Obj, *, now: datetime | None = None) -> Steer:
    name = obj["metadata"]["name"]
    return _request(RUN_REQUESTED, f"containerimagerefresh/{name}: run requested", now)


def plan_rollback(obj: Obj, *, to: str | None = None, now: datetime | None = None) -> Steer:
    """Roll the tag back to ``to`` or to the previous promoted digest in status.history."""
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    promoted = status.get("promotedDigest")
    history = [h.get("digest") for h in status.get("history") or [] if h.get("digest")]
    if to is not None:
        if not re.match(DIGEST_PATTERN, to):
            raise UserError(f"--to {to}: not a digest (expected sha256:<64 hex digits>)")
        if to not in history:
            known = ", ".join(history) or "none"
            raise UserError(f"--to {to}: not in status.history of {name} (known: {known})")
        target = to
    else:
        earlier = [d for d in history if d != promoted]
        if not earlier:
            raise UserError(
                f"containerimagerefresh/{name}: no earlier promoted digest in status.history"
            )
        target = earlier[0]
    if target == promoted:
        raise UserError(f"containerimagerefresh/{name}: the tag already points to {target}")
    value = target
    if _annotations(obj).get(ROLLBACK_TO, "").split(" ")[0] == target:
        # The same digest was requested before and handled; a new value is a new request.
        value = f"{target} requested-at={fresh_value(now)}"
    return Steer(
        annotation=ROLLBACK_TO,
        value=value,
        says=f"containerimagerefresh/{name}: rollback to {target} requested",
    )


def plan_promote(obj: Obj, *, now: datetime | None = None) -> Steer:
    says = "promote requested (the current pause is skipped)"
    return _request(PROMOTE, f"infrarollout/{obj['metadata']['name']}: {says}", now)


def plan_abort(obj: Obj, *, now: datetime | None = None) -> Steer:
    says = "abort requested (production is rolled back)"
    return _request(ABORT, f"infrarollout/{obj['metadata']['name']}: {says}", now)


def plan_suspend_refresh(obj: Obj) -> Patch:
    """``spec.suspend``, the one spec field meant to be flipped by hand, as Argo's pause is."""
    name = obj["metadata"]["name"]
    return Patch(
        body={"spec": {"suspend": True}},
        says=f"containerimagerefresh/{name}: suspended (spec.suspend=true: no new runs start)",
    )


def plan_resume_refresh(obj: Obj) -> Patch:
    name = obj["metadata"]["name"]
    if not (obj.get("spec") or {}).get("suspend"):
        raise UserError(f"containerimagerefresh/{name} is not suspended")
    return Patch(
        body={"spec": {"suspend": False}},
        says=f"containerimagerefresh/{name}: resumed (spec.suspend=false)",
    )
