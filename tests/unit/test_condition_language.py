"""successCondition: the language the CRD accepts is the language the evaluator runs.

Table-driven: what users of Argo Rollouts and Flagger write (including queries
returning several series), what is refused, and hostile input that must be
refused without being executed. Every accepted text is also checked against
the CRD's own pattern, and every refused one against it too, so the schema
and the evaluator cannot drift apart.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from shakedown.api.crdgen import build_crd, kind_spec
from shakedown.api.metrictemplate import CONDITION_MAX_LENGTH
from shakedown.checks.condition import ConditionError, evaluate, parse


def crd_pattern() -> str:
    """The successCondition pattern exactly as the generated InfraRollout CRD carries it."""
    crd = build_crd(kind_spec("InfraRollout"))
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    metric = root["properties"]["spec"]["properties"]["smokeTests"]["properties"]["metrics"]
    condition = metric["items"]["properties"]["successCondition"]
    assert condition["maxLength"] == CONDITION_MAX_LENGTH
    pattern: str = condition["pattern"]
    return pattern


def schema_accepts(text: str) -> bool:
    return len(text) <= CONDITION_MAX_LENGTH and re.search(crd_pattern(), text) is not None


VALID: list[tuple[str, Any, bool]] = [
    ("result < 0.05", 0.01, True),
    ("result < 0.05", 0.5, False),
    ("result<0.05", 0.01, True),
    ("result <= 1e-2", 0.01, True),
    ("result > -1", 0.0, True),
    ("result == 3", 3.0, True),
    ("result != 3", 3.0, False),
    # Argo style on one series: result[0] is the value.
    ("result[0] < 0.05", 0.01, True),
    ("result[0] < 0.05", [0.01, 0.9], True),
    ("result[1] < 0.05", [0.01, 0.9], False),
    # Several series: comparing the list means every series.
    ("result < 0.05", [0.01, 0.02], True),
    ("result < 0.05", [0.01, 0.2], False),
    ("max(result) < 0.05", [0.01, 0.2], False),
    ("min(result) < 0.05", [0.01, 0.2], True),
    ("avg(result) <= 0.1", [0.0, 0.2], True),
    ("sum(result) >= 3", [1.0, 2.0], True),
    ("len(result) == 2", [1.0, 2.0], True),
    ("len(result) == 1", 7.0, True),
    # Joins: and binds tighter than or.
    ("result >= 1 and result <= 3", 2.0, True),
    ("result >= 1 && result <= 3", 4.0, False),
    ("result < 0 or result > 10", 11.0, True),
    ("result < 0 || result > 10 and result < 5", 11.0, False),
    ("result > 100 and result > 0 or result == 5", 5.0, True),
    ("len(result) == 2 and result[1] > 1", [0.0, 2.0], True),
]


@pytest.mark.parametrize(("text", "result", "expected"), VALID)
def test_conditions_users_write(text: str, result: Any, expected: bool) -> None:
    assert schema_accepts(text), f"the CRD refuses {text!r} but the evaluator runs it"
    assert evaluate(text, result) is expected


INVALID = [
    "",
    "result",
    "result < ",
    "0.05 > result",
    "result < 0.05 and",
    "result < abc",
    "result[a] < 1",
    "result[-1] < 1",
    "result[1000] < 1",
    "(result < 1)",
    "not result < 1",
    "result + 1 < 2",
    "abs(result) < 1",
    "isnan(result)",
    "max(result, 1) < 2",
    "result < 1 and or result > 0",
    "result < 1andresult > 0",
    "x < 1",
    "result < 1;",
    "result < 1\nresult > 0",
]

HOSTILE = [
    "__import__('os').system('touch /tmp/pwned')",
    "result.__class__.__mro__",
    "open('/etc/passwd').read()",
    "result < 1 or __import__('os').system('true') == 0",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "lambda: 1",
    "result < 9" + "9" * 400,
    "result < 1 and " * 40 + "result < 1",
]


@pytest.mark.parametrize("text", INVALID + HOSTILE)
def test_conditions_outside_the_language_are_refused_by_both(text: str) -> None:
    with pytest.raises(ConditionError) as caught:
        evaluate(text, 1.0)
    assert "successCondition" in str(caught.value)
    assert not schema_accepts(text), f"the CRD accepts {text!r}, the evaluator refuses it"


def test_huge_exponents_are_just_infinity() -> None:
    # Within the pattern and the length bound, a big exponent is a float, not a hang.
    assert evaluate("result < 1e308", 1.0) is True
    assert evaluate("result < 1e999999999", 1.0) is True  # inf, computed at once


def test_the_length_bound_is_the_crds() -> None:
    long = "result < 1" + " and result < 1" * 20
    assert len(long) > CONDITION_MAX_LENGTH
    assert re.search(crd_pattern(), long), "only the length bound refuses it"
    with pytest.raises(ConditionError, match="longer than 256"):
        parse(long)


@pytest.mark.parametrize(
    ("text", "result", "message"),
    [
        ("result[2] < 1", [0.0, 1.0], "result[2]: the query returned 2 series"),
        ("result < 1", [], "no samples"),
        ("result < 1", math.nan, "NaN"),
        ("max(result) < 1", [0.0, math.nan], "NaN"),
    ],
)
def test_results_the_condition_cannot_judge_fail_with_a_reason(
    text: str, result: Any, message: str
) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        evaluate(text, result)


def test_the_language_is_documented_in_the_crd() -> None:
    crd = build_crd(kind_spec("InfraRollout"))
    text = str(crd)
    for term in ("result[N]", "max(result)", "len(result)", "every series", "and binds tighter"):
        assert term in text, term
