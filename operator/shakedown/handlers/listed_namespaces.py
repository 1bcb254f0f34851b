"""Serve a namespace created while the operator starts, not only after its next change.

With namespace patterns (``shakedown run --namespace 'team-*'``) kopf learns the
namespaces twice at start: its namespace observer lists them once, then starts a
watch, which lists them again before it watches, and the observer drops that
second listing as old news. A namespace created between the two listings is in
the second one only, so kopf starts no watch in it: its objects wait, without a
log line above DEBUG, until the namespace itself next changes (for a quiet
namespace, until it is deleted). CI met exactly this: a test namespace created
right after the operator answered its health check, and a refresh in it that
no handler saw for 180 s.

The fix takes the second listing as news too, but says so only when it changes
the set of served namespaces: a start with a thousand namespaces makes kopf
re-plan its watches once per namespace that was missed, not once per namespace.
It replaces one function of kopf's private observation module, looked up by name
when the observer starts. A kopf without that function (or with a different
one) is left as it is, with a warning: the operator still runs, with kopf's
race.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection
from typing import Any

logger = logging.getLogger(__name__)

#: The debug line's last words, by whether the namespace is served now.
_SAID = {True: "served", False: "no longer served"}
#: What kopf's namespace-event processor is called with (by name).
EXPECTED = {"raw_event", "namespaces", "insights"}


def install() -> bool:
    """Put ``process_listed_too`` in kopf's place (once); False when kopf's shape differs."""
    try:
        from kopf._core.reactor import observation
    except ImportError:
        logger.warning("kopf's observation module moved: namespaces created at start may wait")
        return False
    current = getattr(observation, "process_discovered_namespace_event", None)
    if getattr(current, "__wrapped_kopf__", None) is not None:
        return True
    revise = getattr(observation, "revise_namespaces", None)
    if not callable(current) or not callable(revise) or not _accepts(current, EXPECTED):
        logger.warning("kopf's namespace observer changed: namespaces created at start may wait")
        return False
    observation.process_discovered_namespace_event = process_listed_too(current, revise)
    return True


def process_listed_too(
    original: Callable[..., Any], revise: Callable[..., None]
) -> Callable[..., Any]:
    """kopf's processor; a listed namespace (type None) counts when it changes what is served."""

    async def process(
        *,
        raw_event: Any,
        namespaces: Collection[Any],
        insights: Any,
        **kwargs: Any,
    ) -> None:
        if raw_event.get("type") is not None:
            await original(raw_event=raw_event, namespaces=namespaces, insights=insights, **kwargs)
            return
        name = _name(raw_event)
        async with insights.revised:
            served = name in insights.namespaces
            revise(raw_events=[raw_event], insights=insights, namespaces=namespaces)
            now = name in insights.namespaces  # revise touches this one name only
            if now != served:
                logger.debug("namespace %s listed at start: %s", name, _SAID[now])
                insights.revised.notify_all()

    process.__wrapped_kopf__ = original  # type: ignore[attr-defined]
    return process


def _accepts(function: Callable[..., Any], names: set[str]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return names <= set(parameters)


def _name(raw_event: Any) -> str:
    return str(((raw_event.get("object") or {}).get("metadata") or {}).get("name"))
