"""Metric: a Prometheus query measured ``count`` times, ``interval`` apart.

Each measurement queries the Prometheus HTTP API (``/api/v1/query``) and judges
the value with ``successCondition`` (see ``condition``). A query error or an
empty result counts as a failed measurement; the check fails as soon as
failures exceed ``failureLimit`` and passes after ``count`` measurements.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from shakedown.api.common import parse_duration
from shakedown.checks.base import CheckContext, CheckOutcome
from shakedown.checks.condition import ConditionError, evaluate, parse


class QueryError(Exception):
    """Prometheus could not answer the query with a number."""


async def query(address: str, promql: str, *, timeout: float = 10.0) -> float | list[float]:
    """One instant query: a scalar, or the values of a vector (one float if one sample)."""
    url = address.rstrip("/") + "/api/v1/query"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, params={"query": promql}) as response,
        ):
            body: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise QueryError(f"{url}: {exc or type(exc).__name__}") from exc
    if not isinstance(body, Mapping) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, Mapping) else body
        raise QueryError(f"query {promql!r} failed: {error}")
    return values(body.get("data") or {})


def values(data: Mapping[str, Any]) -> float | list[float]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, Sequence):
        return float(result[1])
    if kind == "vector" and isinstance(result, Sequence):
        numbers = [float(sample["value"][1]) for sample in result]
        if not numbers:
            raise QueryError("the query returned no samples")
        return numbers[0] if len(numbers) == 1 else numbers
    raise QueryError(f"unsupported result type {kind!r}")


class PrometheusCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        condition = str(spec["successCondition"])
        try:
            parse(condition)
        except ConditionError as exc:
            return CheckOutcome(False, str(exc))
        prometheus = spec["prometheus"]
        promql = str(prometheus["query"]).replace("{{namespace}}", ctx.namespace)
        promql = promql.replace("{{ namespace }}", ctx.namespace)
        interval = parse_duration(str(spec.get("interval", "30s")))
        count = int(spec.get("count", 1))
        limit = int(spec.get("failureLimit", 0))
        successes = failures = 0
        last = ""
        for measurement in range(count):
            if measurement:
                await asyncio.sleep(interval)
            try:
                value = await query(str(prometheus["address"]), promql)
                ok = evaluate(condition, value)
                shown = value if isinstance(value, list) else _fmt(value)
                last = f"result {shown} {'meets' if ok else 'fails'} {condition}"
            except (QueryError, ConditionError) as exc:
                ok, last = False, str(exc)
            if ok:
                successes += 1
            else:
                failures += 1
                if failures > limit:
                    return CheckOutcome(
                        False,
                        f"{failures} failed measurement(s) of {measurement + 1} "
                        f"(failureLimit {limit}): {last}",
                        successes=successes,
                        failures=failures,
                    )
        return CheckOutcome(
            True,
            f"{successes}/{count} measurements passed; last: {last}",
            successes=successes,
            failures=failures,
        )


def _fmt(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:g}"
