"""What the runner writes and says: the status merge patch, and errors put plainly.

Split from ``adapters.runner`` to keep the loop apart from the text it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Events are clipped to this many characters (the API server's limit is 1024).
MAX_EVENT_MESSAGE = 1000


def merge_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7396) turning ``before`` into ``after``."""
    patch: dict[str, Any] = {}
    for key in before:
        if key not in after:
            patch[key] = None
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif value != old or key not in before:
            patch[key] = value
    return patch


def describe(error: ValueError) -> str:
    """Which status fields are wrong, by their path (pydantic errors), else the message."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return str(error)
    parts = []
    for item in errors():
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"status.{where}: {item.get('msg', '')}" if where else item.get("msg", ""))
    return "; ".join(parts) or str(error)


def said(exc: BaseException) -> str:
    """An API error as its status and reason (its str() is the whole HTTP response)."""
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    return f"{status} {reason}" if isinstance(status, int) and reason else str(exc)


def clip(message: str) -> str:
    return message if len(message) <= MAX_EVENT_MESSAGE else message[: MAX_EVENT_MESSAGE - 1] + "…"
