"""``successCondition`` evaluated safely: a tiny expression language, never ``eval``.

Accepted: ``result`` (the query's value), numbers, comparisons (``< <= > >=
== !=``, chained), ``and``/``or``/``not``, ``+ - * /``, parentheses, and
``len``/``min``/``max``/``abs``/``all``/``any`` over a vector result
(``result[0]``). Anything else is refused with a message naming it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any


class ConditionError(ValueError):
    """The condition is not in the accepted language, or cannot be evaluated."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "all": all,
    "any": any,
    "isnan": math.isnan,
}


def parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"successCondition {text!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ("result", *_FUNCTIONS):
            raise ConditionError(f"successCondition {text!r}: unknown name {node.id!r}")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords
        ):
            raise ConditionError(
                f"successCondition {text!r}: only {', '.join(_FUNCTIONS)} may be called"
            )
    return tree


def evaluate(text: str, result: float | Sequence[float]) -> bool:
    """Whether ``result`` satisfies the condition."""
    tree = parse(text)
    try:
        return bool(_eval(tree.body, result, text))
    except (TypeError, IndexError, ZeroDivisionError) as exc:
        raise ConditionError(f"successCondition {text!r}: {exc}") from exc


def _eval(node: ast.AST, result: Any, text: str) -> Any:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "result":
            return result
        raise ConditionError(f"successCondition {text!r}: {node.id!r} is a function")
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, result, text)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Not):
            return not value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](
            _eval(node.left, result, text), _eval(node.right, result, text)
        )
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, result, text) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, result, text)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ConditionError(f"successCondition {text!r}: unsupported comparison")
            right = _eval(comparator, result, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Subscript):
        index = _eval(node.slice, result, text)
        return _eval(node.value, result, text)[int(index)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id](*[_eval(a, result, text) for a in node.args])
    raise ConditionError(f"successCondition {text!r}: {type(node).__name__} is not allowed")
