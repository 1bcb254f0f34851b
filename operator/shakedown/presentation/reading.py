"""Reading an object for a person: fields by dotted path, kstatus health, the message to show.

Pure functions of the object as the API server returns it, shared by the CLI's
tables and views and the dashboard's pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Obj = Mapping[str, Any]


def path(obj: Obj, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def observed(obj: Obj | None) -> bool:
    """Whether the operator has written status for the object's current generation.

    Until then the status speaks of an older spec (or of nothing), so what it
    says is not yet an answer about this one.
    """
    if not obj:
        return False
    generation = path(obj, "metadata.generation")
    seen = path(obj, "status.observedGeneration")
    return seen is not None and int(seen) >= int(generation or 0)


def text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def condition(obj: Obj, type_: str) -> Mapping[str, Any]:
    for cond in path(obj, "status.conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time as status holds it (``2024-05-01T12:00:00Z``); None when unset or not one.

    Front-ends show what they read and never fail on it: a missing or mangled
    time makes the duration unknown (``-``), not a traceback.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from ``start`` to ``end`` (status timestamps), at least 0; None if one is unknown."""
    begin, finish = timestamp(start), timestamp(end)
    if begin is None or finish is None:
        return None
    return max(0.0, (finish - begin).total_seconds())


def age(timestamp: str | None, *, now: datetime | None = None) -> str:
    """kubectl-style age: 45s, 5m, 3h, 2d, 1y (<unknown> when unset)."""
    if not timestamp:
        return "<unknown>"
    created = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - created).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def health(obj: Obj) -> str:
    """Ready / Reconciling / Stalled / - from the kstatus conditions."""
    for type_ in ("Stalled", "Reconciling", "Ready"):
        if condition(obj, type_).get("status") == "True":
            return type_
    return "-"


def message(obj: Obj) -> str:
    for type_ in ("Stalled", "Reconciling", "Ready"):
        cond = condition(obj, type_)
        if cond.get("status") == "True" and cond.get("message"):
            return str(cond["message"])
    return str(condition(obj, "Ready").get("message", ""))
