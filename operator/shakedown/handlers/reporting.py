"""What every handler does with its verdict: conditions, observedGeneration, an Event.

A ``Verdict`` is the kstatus state a handler arrived at (Ready / Reconciling /
Stalled) with a reason and a message. ``report`` turns it into conditions on
the status patch and posts an Event when what users see changed, so a resumed
operator does not repeat Events for an object it already reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf

from shakedown import GROUP, VERSION, metrics
from shakedown.api import instances
from shakedown.api.common import Condition
from shakedown.conditions import READY, Health, find, with_health
from shakedown.planning.validation import INVALID_SPEC, Problem, summarize

#: Events are clipped to this many characters (the API server's limit is 1024).
MAX_EVENT_MESSAGE = 1000


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The kstatus state a handler arrived at."""

    health: Health
    reason: str
    message: str

    @classmethod
    def invalid(cls, problems: Sequence[Problem]) -> Verdict:
        """Stalled: the spec cannot be acted on; the message names the fields."""
        return cls(health=Health.STALLED, reason=INVALID_SPEC, message=summarize(problems))


def conditions_of(status: Mapping[str, Any] | None) -> list[Condition]:
    """Conditions as stored, skipping any entry that does not parse."""
    result = []
    for raw in (status or {}).get("conditions") or []:
        try:
            result.append(Condition.model_validate(raw))
        except ValueError:
            continue
    return result


def changed(before: Sequence[Condition], after: Sequence[Condition]) -> bool:
    """True when the Ready condition users read differs (status, reason or message)."""
    old, new = find(before, READY), find(after, READY)
    if old is None or new is None:
        return old is not new
    return (old.status, old.reason, old.message) != (new.status, new.reason, new.message)


def report(
    *,
    body: kopf.Body,
    patch: kopf.Patch,
    verdict: Verdict,
    generation: int | None,
    logger: kopf.Logger | Any,
) -> list[Condition]:
    """Write the verdict to the status patch; post an Event if users would see a change."""
    before = conditions_of(body.get("status"))
    after = with_health(
        before,
        verdict.health,
        reason=verdict.reason,
        message=verdict.message,
        generation=generation,
    )
    metrics.observe(
        kind=str(body.get("kind", "")),
        namespace=str(body.metadata.namespace or ""),
        name=str(body.metadata.name or ""),
        health=verdict.health.value,
        reason=verdict.reason,
    )
    patch.status["conditions"] = [c.to_api() for c in after]
    if generation is not None:
        patch.status["observedGeneration"] = generation
    if changed(before, after):
        event_type = "Warning" if verdict.health is Health.STALLED else "Normal"
        kopf.event(
            body,
            type=event_type,
            reason=verdict.reason,
            message=_clip(verdict.message or verdict.reason),
        )
        log = logger.warning if verdict.health is Health.STALLED else logger.info
        log("%s: %s", verdict.reason, verdict.message)
    return after


def _clip(message: str) -> str:
    return message if len(message) <= MAX_EVENT_MESSAGE else message[: MAX_EVENT_MESSAGE - 1] + "…"


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on_spec(plural: str) -> Callable[[_Handler], _Handler]:
    """Register a kind's spec handler for whenever its spec may be new: resume, create, update.

    Only for this operator's objects (``instances.mine``): kopf is then blind to
    another instance's, and stores none of its bookkeeping on them.
    """

    def register(handler: _Handler) -> _Handler:
        for on in (kopf.on.update, kopf.on.create, kopf.on.resume):
            on(GROUP, VERSION, plural, when=instances.mine)(handler)
        return handler

    return register


def refused(
    model: object | None,
    problems: Sequence[Problem],
    *,
    body: kopf.Body,
    patch: kopf.Patch,
    meta: kopf.Meta,
    logger: kopf.Logger,
) -> bool:
    """Report a spec that cannot be acted on Stalled, naming the fields; True when it was.

    ``model`` is the parsed spec, None when it did not parse.
    """
    if model is not None and not problems:
        return False
    report(
        body=body,
        patch=patch,
        verdict=Verdict.invalid(problems),
        generation=meta.get("generation"),
        logger=logger,
    )
    return True
