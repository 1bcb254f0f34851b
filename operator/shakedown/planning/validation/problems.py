"""A problem with a spec, at a field path, and parsing a raw spec into problems.

Every problem names the field path (``spec.targets[1].kind``) so the Stalled
condition tells the user exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shakedown.api.common import parse_duration

#: Condition reason for a spec the operator cannot act on.
INVALID_SPEC = "InvalidSpec"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a spec, at a field path."""

    field: str
    """Path of the offending field, e.g. ``spec.targets[1].kind``."""
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def summarize(problems: Sequence[Problem]) -> str:
    """One line for a condition message or an Event."""
    return "; ".join(str(p) for p in problems)


def field_path(loc: Sequence[int | str], prefix: str = "spec") -> str:
    """pydantic error location -> ``spec.tests[0].timeout``."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse(model: type[M], raw: Mapping[str, Any] | None) -> tuple[M | None, tuple[Problem, ...]]:
    """Parse a raw spec into ``model``; problems name the field when it does not fit."""
    try:
        return model.model_validate(dict(raw or {})), ()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            loc = [p for p in error["loc"] if not (isinstance(p, str) and "[" in p)]
            path = field_path(loc)
            # Messages of model-level rules already start with their own path.
            if message.startswith("spec."):
                path, _, message = message.partition(": ")
                if not message:
                    path, message = field_path(loc), path
            problems.append(Problem(field=path, message=message))
        return None, tuple(problems)


def check_duration_positive(value: str, path: str) -> list[Problem]:
    if parse_duration(value) == 0:
        return [Problem(field=path, message=f"{value!r} must be longer than 0s")]
    return []
