"""MetricTemplate: a Prometheus query and its judgement, written once per namespace.

Rollouts' metric checks (``smokeTests.metrics[]``, ``rollback.metrics[]``)
either carry their own ``prometheus`` block or name a MetricTemplate with
``templateRef``, the way Argo Rollouts' AnalysisTemplate and Flagger's
MetricTemplate let teams share the address, credentials and query.

The connection to Prometheus (``PrometheusServer``) is defined here too:
credentials come from a Secret, are sent only to ``address`` and never appear
in status, Events or logs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shakedown.api.common import (
    ApiModel,
    ApiObject,
    HttpUrl,
    LocalObjectReference,
    cel,
    list_map,
    rule,
)
from shakedown.api.names import KindNames

NAMES = KindNames(kind="MetricTemplate", plural="metrictemplates", short_name="mtpl")

#: Longest accepted successCondition (the evaluator in checks/condition.py agrees).
CONDITION_MAX_LENGTH = 256
_TERM = r"(result(\[[0-9]{1,3}\])?|(min|max|avg|sum|len)\(result\))"
_OP = r"(<=|>=|==|!=|<|>)"
_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_COMPARISON = rf"{_TERM} *{_OP} *{_NUMBER}"
_JOIN = r"( +(and|or) +| *(&&|\|\|) *)"
#: The whole successCondition language as one regular expression (RE2 and Python agree).
CONDITION_PATTERN = rf"^ *{_COMPARISON}({_JOIN}{_COMPARISON})* *$"

SuccessCondition = Annotated[
    str, Field(pattern=CONDITION_PATTERN, min_length=1, max_length=CONDITION_MAX_LENGTH)
]

#: Secret keys read by ``PrometheusServer.secretRef``.
TOKEN_KEY = "token"
USERNAME_KEY = "username"
PASSWORD_KEY = "password"
CA_KEY = "ca.crt"


class PrometheusHeader(ApiModel):
    """An extra HTTP header sent with every query (e.g. a tenant id for Mimir or Thanos)."""

    model_config = cel(
        rule(
            "has(self.value) != has(self.secretKey)",
            "set exactly one of value or secretKey",
            field_path=".value",
        ),
        rule(
            "self.name.lowerAscii() != 'authorization'",
            "set credentials with secretRef (keys token or username/password), "
            "not an Authorization header",
            field_path=".name",
        ),
    )

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_]*$", max_length=128)]
    """Header name, e.g. X-Scope-OrgID."""
    value: Annotated[str, Field(max_length=4096)] | None = None
    """Literal value (not secret: it is part of the spec)."""
    secret_key: (
        Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)] | None
    ) = None
    """Take the value from this key of the Secret named by secretRef."""

    @model_validator(mode="after")
    def _one_value(self) -> PrometheusHeader:
        if (self.value is None) == (self.secret_key is None):
            raise ValueError("set exactly one of value or secretKey")
        if self.name.lower() == "authorization":
            raise ValueError(
                "set credentials with secretRef (keys token or username/password), "
                "not an Authorization header"
            )
        return self


class PrometheusServer(ApiModel):
    """Where Prometheus answers queries, and how to authenticate to it."""

    model_config = cel(
        rule(
            "!has(self.headers) || !self.headers.exists(h, has(h.secretKey)) "
            "|| has(self.secretRef)",
            "headers[].secretKey needs secretRef",
            field_path=".headers",
        ),
        rule(
            "!self.address.matches('^https?://[^/]*@')",
            "put credentials in secretRef, not in address",
            field_path=".address",
        ),
    )

    address: HttpUrl
    """Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090."""
    secret_ref: LocalObjectReference | None = None
    """Secret in the rollout's namespace with credentials, sent only to address. Keys:
    `token` (sent as Authorization: Bearer), or `username` and `password` (basic auth);
    `ca.crt` (PEM certificates trusted for an https address, instead of the system's)."""
    insecure_skip_verify: StrictBool = False
    """Do not verify the TLS certificate of an https address (tests only)."""
    headers: Annotated[
        list[PrometheusHeader], Field(max_length=16, json_schema_extra=list_map("name"))
    ] = Field(default_factory=list)
    """Extra HTTP headers sent with every query."""

    @model_validator(mode="after")
    def _secret_headers(self) -> PrometheusServer:
        if self.secret_ref is None and any(h.secret_key is not None for h in self.headers):
            raise ValueError("headers[].secretKey needs secretRef")
        return self


class PrometheusQuery(PrometheusServer):
    """A Prometheus server and the PromQL query asked of it."""

    query: Annotated[str, Field(min_length=1, max_length=8192)]
    """PromQL instant query. `{{namespace}}` is replaced by the namespace checked (the shadow
    namespace for smoke tests, production's for rollback metrics). One series gives one number
    as `result`; several series give a list (see successCondition)."""


#: The language of successCondition, for field descriptions (kubectl explain).
CONDITION_HELP = (
    "A comparison of the query's result with a number, e.g. `result < 0.05`. "
    "`result` is the number when the query returns one series (or a scalar), and the list "
    "of values, one per series, when it returns several: comparing that list with a number "
    "holds when every series does. Terms: `result`, `result[N]` (the N-th series, from 0), "
    "`min(result)`, `max(result)`, `avg(result)`, `sum(result)`, `len(result)` (the number "
    "of series). Operators: < <= > >= == !=. Comparisons join with `and` (or &&) and `or` "
    "(or ||); and binds tighter. No parentheses, arithmetic or other names; at most 256 "
    "characters. A query with no samples, or a NaN value, fails the measurement."
)


class MetricTemplateSpec(ApiModel):
    """A Prometheus query and the condition its result must meet, shared by rollouts."""

    prometheus: PrometheusQuery
    """The Prometheus server and query."""
    success_condition: SuccessCondition = Field(description=CONDITION_HELP)


class MetricTemplate(ApiObject[MetricTemplateSpec]):
    """A whole MetricTemplate as read from the API server (it has no status)."""

    kind: str = NAMES.kind
