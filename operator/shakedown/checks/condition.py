"""``successCondition``: a small comparison language, parsed by one regular expression.

The CRD accepts a condition only when it matches ``CONDITION_PATTERN`` (defined
with the API in ``api.metrictemplate``, described to users by ``CONDITION_HELP``), and
this module evaluates exactly that grammar, so nothing the API server lets
through is refused at run time and nothing here is reachable from no spec.
There is no ``eval`` and no Python parser involved: the text is split into
comparisons by the same regular expression and each is computed directly.

Grammar::

    condition  := comparison (("and" | "or" | "&&" | "||") comparison)*
    comparison := term op number
    term       := "result" | "result[" index "]" | fn "(result)"
    fn         := "min" | "max" | "avg" | "sum" | "len"
    op         := "<" | "<=" | ">" | ">=" | "==" | "!="

``result`` is the query's value: a number when the query returns one series
(or a scalar), a list of numbers (one per series) when it returns several.
Comparing a list with a number holds when every series satisfies it.
``and`` binds tighter than ``or``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shakedown.api.metrictemplate import CONDITION_MAX_LENGTH, CONDITION_PATTERN

MAX_LENGTH = CONDITION_MAX_LENGTH
_OP = r"(<=|>=|==|!=|<|>)"
_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_JOIN = r"( +(and|or) +| *(&&|\|\|) *)"

_COMPARISON_RE = re.compile(
    r"(?P<term>result(\[(?P<index>[0-9]{1,3})\])?|(?P<fn>min|max|avg|sum|len)\(result\))"
    rf" *(?P<op>{_OP}) *(?P<number>{_NUMBER})"
)
_JOIN_RE = re.compile(_JOIN)
_PATTERN_RE = re.compile(CONDITION_PATTERN)

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _avg(values: Sequence[float]) -> float:
    return sum(values) / len(values)


_FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "min": min,
    "max": max,
    "avg": _avg,
    "sum": lambda values: float(sum(values)),
    "len": lambda values: float(len(values)),
}


class ConditionError(ValueError):
    """The condition is not in the language, or the result cannot be judged by it."""


@dataclass(frozen=True)
class Comparison:
    fn: str | None
    index: int | None
    op: str
    number: float

    def holds(self, values: Sequence[float]) -> bool:
        compare = _OPS[self.op]
        if self.fn is not None:
            return compare(_FUNCTIONS[self.fn](values), self.number)
        if self.index is not None:
            if self.index >= len(values):
                raise ConditionError(
                    f"result[{self.index}]: the query returned {len(values)} series"
                )
            return compare(values[self.index], self.number)
        return all(compare(value, self.number) for value in values)


@dataclass(frozen=True)
class Condition:
    """Comparisons in disjunctive form: any group whose comparisons all hold."""

    text: str
    groups: tuple[tuple[Comparison, ...], ...]

    def holds(self, result: float | Sequence[float]) -> bool:
        values = [float(result)] if isinstance(result, int | float) else [float(v) for v in result]
        if not values:
            raise ConditionError("the query returned no samples")
        if any(math.isnan(v) for v in values):
            raise ConditionError("the query returned NaN")
        return any(all(c.holds(values) for c in group) for group in self.groups)


def parse(text: str) -> Condition:
    """The condition as comparisons; ``ConditionError`` says what is wrong and what is allowed."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"successCondition is longer than {MAX_LENGTH} characters")
    if not _PATTERN_RE.fullmatch(text):
        raise ConditionError(
            f"successCondition {text[:80]!r} is not in the condition language: "
            "expected e.g. `result < 0.05`, `result[0] < 0.05`, `max(result) <= 1` "
            "(see kubectl explain infrarollout.spec.smokeTests.metrics.successCondition)"
        )
    groups: list[list[Comparison]] = [[]]
    position = 0
    stripped = text.strip()
    while True:
        match = _COMPARISON_RE.match(stripped, position)
        if match is None:  # unreachable after the fullmatch; kept as a guard
            raise ConditionError(f"successCondition {text[:80]!r}: cannot parse")
        index = match.group("index")
        groups[-1].append(
            Comparison(
                fn=match.group("fn"),
                index=int(index) if index is not None else None,
                op=match.group("op"),
                number=float(match.group("number")),
            )
        )
        position = match.end()
        if position == len(stripped):
            break
        join = _JOIN_RE.match(stripped, position)
        if join is None:
            raise ConditionError(f"successCondition {text[:80]!r}: cannot parse")
        if join.group(0).strip() in ("or", "||"):
            groups.append([])
        position = join.end()
    return Condition(text, tuple(tuple(g) for g in groups))


def evaluate(text: str, result: float | Sequence[float]) -> bool:
    """Whether ``result`` (one number, or one per series) satisfies the condition."""
    return parse(text).holds(result)
