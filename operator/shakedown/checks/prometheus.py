"""Metric: a Prometheus query measured ``count`` times, ``interval`` apart.

Each measurement queries the Prometheus HTTP API (``/api/v1/query``) and judges
the value with ``successCondition`` (see ``condition``). A query error or an
empty result counts as a failed measurement; the check fails as soon as
failures exceed ``failureLimit`` and passes after ``count`` measurements.

The query and server come from the check itself or from the MetricTemplate it
names (``templateRef``). Credentials come from the Secret named by
``secretRef`` in the rollout's namespace and go only to ``address``: redirects
are not followed, and no message built here contains a header value. The
address goes through ``shakedown.outbound``: metadata, loopback and API-server
addresses are refused after resolution unless the operator allows them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import socket
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiohttp.abc

from shakedown import outbound
from shakedown.api.common import parse_duration
from shakedown.api.metrictemplate import CA_KEY, PASSWORD_KEY, TOKEN_KEY, USERNAME_KEY
from shakedown.checks.base import CheckContext, CheckOutcome
from shakedown.checks.condition import ConditionError, evaluate, parse


class QueryError(Exception):
    """Prometheus could not answer the query with a number."""


class SetupError(Exception):
    """The check cannot be set up (template or Secret missing); the message names the field."""


@dataclass(frozen=True)
class Connection:
    """How to reach one Prometheus: the address, and what to send it (and only it)."""

    address: str
    headers: Mapping[str, str] = field(default_factory=dict)
    ca_pem: str | None = None
    insecure_skip_verify: bool = False

    def __repr__(self) -> str:  # never show header values (tokens) in logs or tracebacks
        return f"Connection({self.address!r}, headers={sorted(self.headers)})"

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure_skip_verify:
            return False
        if self.ca_pem:
            return ssl.create_default_context(cadata=self.ca_pem)
        return True


def connection(
    server: Mapping[str, Any], secret: Mapping[str, str] | None, *, where: str
) -> Connection:
    """The Connection a ``prometheus`` block and its Secret's decoded data describe.

    Pure. ``where`` is the field path of the block, so a missing key is named.
    """
    secret = secret or {}
    headers: dict[str, str] = {}
    for index, header in enumerate(server.get("headers") or []):
        name = str(header["name"])
        if "secretKey" in header:
            key = str(header["secretKey"])
            if key not in secret:
                raise SetupError(
                    f"{where}.headers[{index}].secretKey: the Secret has no key {key!r}"
                )
            headers[name] = secret[key]
        else:
            headers[name] = str(header.get("value", ""))
    if TOKEN_KEY in secret:
        headers["Authorization"] = f"Bearer {secret[TOKEN_KEY].strip()}"
    elif USERNAME_KEY in secret or PASSWORD_KEY in secret:
        if USERNAME_KEY not in secret or PASSWORD_KEY not in secret:
            raise SetupError(f"{where}.secretRef: basic auth needs both username and password")
        # A trailing newline is what `kubectl create secret --from-file` leaves; never meant.
        user, password = (secret[k].rstrip("\r\n") for k in (USERNAME_KEY, PASSWORD_KEY))
        pair = f"{user}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return Connection(
        address=str(server["address"]).rstrip("/"),
        headers=headers,
        ca_pem=secret.get(CA_KEY),
        insecure_skip_verify=bool(server.get("insecureSkipVerify", False)),
    )


async def query(conn: Connection, promql: str, *, timeout: float = 10.0) -> float | list[float]:
    """One instant query: a scalar, one float per series, or one float if one series."""
    url = conn.address + "/api/v1/query"
    try:
        parts = urllib.parse.urlsplit(url)
        outbound.check_literal(
            [parts.hostname or ""], parts.port or (443 if parts.scheme == "https" else 80)
        )
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout),
                connector=aiohttp.TCPConnector(resolver=GuardedResolver()),
            ) as session,
            session.get(
                url,
                params={"query": promql},
                headers=dict(conn.headers),
                ssl=conn.ssl_context(),
                allow_redirects=False,  # credentials go to address only
            ) as response,
        ):
            if response.status in (401, 403):
                raise QueryError(
                    f"{url}: HTTP {response.status} {response.reason} "
                    "(check the credentials in prometheus.secretRef)"
                )
            if 300 <= response.status < 400:
                raise QueryError(f"{url}: HTTP {response.status} redirect (not followed)")
            body: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, ssl.SSLError, OSError) as exc:
        raise QueryError(f"{url}: {exc or type(exc).__name__}") from exc
    if not isinstance(body, Mapping) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, Mapping) else body
        raise QueryError(f"query {promql!r} failed: {error}")
    return values(body.get("data") or {})


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the outbound policy allows."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        rules = outbound.policy()
        kept = [r for r in found if rules.refusal(r["host"], port) is None]
        if not kept and found:
            raise outbound.OutboundRefused(f"{host}: {rules.refusal(found[0]['host'], port)}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def values(data: Mapping[str, Any]) -> float | list[float]:
    """The query's result: a number for a scalar or one series, a list for several series."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, Sequence):
        return float(result[1])
    if kind == "vector" and isinstance(result, Sequence):
        numbers = [float(sample["value"][1]) for sample in result]
        if not numbers:
            raise QueryError("the query returned no samples")
        return numbers[0] if len(numbers) == 1 else numbers
    raise QueryError(f"unsupported result type {kind!r} (use an instant vector or a scalar)")


def decode_secret(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """A Secret's data, decoded; keys whose value is not base64 text are left out."""
    decoded = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            decoded[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return decoded


@dataclass(frozen=True)
class Resolved:
    """What one metric check measures: the connection, the query and the condition."""

    connection: Connection
    query: str
    condition: str


async def resolve(ctx: CheckContext, spec: Mapping[str, Any], where: str) -> Resolved:
    """Read the template and Secret the check refers to (in the rollout's namespace)."""
    home = ctx.home_namespace or ctx.namespace
    prometheus: Mapping[str, Any] | None = spec.get("prometheus")
    condition = spec.get("successCondition")
    server_where = f"{where}.prometheus"
    template_ref = spec.get("templateRef")
    if template_ref is not None:
        name = str(template_ref["name"])
        template = await ctx.call(ctx.kube.get, "MetricTemplate", home, name)
        if template is None:
            raise SetupError(f"{where}.templateRef: MetricTemplate {name!r} not found in {home}")
        template_spec = template.get("spec") or {}
        prometheus = template_spec.get("prometheus")
        condition = condition or template_spec.get("successCondition")
        server_where = f"MetricTemplate {name}: spec.prometheus"
    if not prometheus or not condition:
        raise SetupError(f"{where}: needs prometheus and successCondition (or templateRef)")
    secret_data = None
    secret_ref = prometheus.get("secretRef")
    if secret_ref is not None:
        secret_name = str(secret_ref["name"])
        secret = await ctx.call(ctx.kube.get, "Secret", home, secret_name)
        if secret is None:
            raise SetupError(
                f"{server_where}.secretRef: Secret {secret_name!r} not found in {home}"
            )
        secret_data = decode_secret(secret)
    conn = connection(prometheus, secret_data, where=server_where)
    promql = str(prometheus["query"])
    for placeholder in ("{{namespace}}", "{{ namespace }}"):
        promql = promql.replace(placeholder, ctx.namespace)
    return Resolved(conn, promql, str(condition))


class PrometheusCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        where = ctx.field or f"metric {spec.get('name')}"
        try:
            target = await resolve(ctx, spec, where)
            parse(target.condition)
        except (SetupError, ConditionError) as exc:
            return CheckOutcome(False, str(exc))
        interval = parse_duration(str(spec.get("interval", "30s")))
        count = int(spec.get("count", 1))
        limit = int(spec.get("failureLimit", 0))
        successes = failures = 0
        last = ""
        for measurement in range(count):
            if measurement:
                await asyncio.sleep(interval)
            try:
                value = await query(target.connection, target.query)
                ok = evaluate(target.condition, value)
                shown = (
                    "[" + ", ".join(_fmt(v) for v in value) + "]"
                    if isinstance(value, list)
                    else _fmt(value)
                )
                last = f"result {shown} {'meets' if ok else 'fails'} {target.condition}"
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
