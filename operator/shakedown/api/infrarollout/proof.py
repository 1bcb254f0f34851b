"""Where and how a change is proven before production: the shadow namespace and its smoke tests."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shakedown.api.common import (
    ApiModel,
    Args,
    Command,
    DnsLabel,
    Duration,
    EnvVars,
    ImageReference,
    LocalObjectReference,
    ObjectName,
    cel,
    duration_at_least,
    list_map,
    parse_duration,
    rule,
)
from shakedown.api.infrarollout.meta import MAX_CHECKS, MAX_READY_TIMEOUT
from shakedown.api.metrictemplate import CONDITION_HELP, PrometheusQuery, SuccessCondition


class Shadow(ApiModel):
    """The shadow namespace where the changed copies are proven."""

    model_config, _ttl = duration_at_least("ttl", "1m", "shadow.ttl must be at least 1m")

    ttl: Duration = "1h"
    """The shadow namespace is deleted after this long at the latest."""
    replicas: Annotated[int, Field(ge=1, le=10)] = 1
    """Replicas of each workload copy in the shadow."""
    isolate: StrictBool = True
    """Deny traffic into and out of the shadow namespace except DNS (NetworkPolicy)."""
    copy_secrets: Annotated[list[ObjectName], Field(max_length=64)] = Field(default_factory=list)
    """Secrets that may be copied into the shadow; others are left out."""


class HttpScheme(StrEnum):
    """Only plain HTTP: the in-cluster probe cannot speak TLS, so HTTPS is refused up front."""

    HTTP = "HTTP"


class HttpCheck(ApiModel):
    """An HTTP request against a Service in the shadow."""

    name: DnsLabel
    """Name of the check (unique among the HTTP checks), shown in status.checks."""
    service: ObjectName
    """Service (copied into the shadow) to call."""
    port: Annotated[int, Field(ge=1, le=65535)]
    """Service port to call."""
    path: Annotated[str, Field(pattern=r"^/", max_length=2048)] = "/"
    """Request path, starting with /."""
    scheme: HttpScheme = HttpScheme.HTTP
    """HTTP only: HTTPS is not supported by the in-cluster probe (check an HTTP port, or use
    a Job check with a client that speaks TLS)."""
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    """Expected HTTP status code."""
    expect_body: Annotated[str, Field(max_length=4096)] | None = None
    """Substring the response body must contain."""
    timeout: Duration = "5s"
    """Time allowed for each attempt."""
    attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """The check passes on the first successful attempt of this many."""


class JobCheck(ApiModel):
    """A test Job run in the shadow, by default in the candidate image."""

    name: DnsLabel
    """Name of the check (unique among the Job checks), shown in status.checks."""
    image: ImageReference | None = None
    """Image to run; the candidate image of `container` (or the first changed one) when unset."""
    container: DnsLabel | None = None
    """Container whose candidate image the Job uses."""
    command: Command = Field(default_factory=list)
    """Entrypoint of the test container; the image's when empty."""
    args: Args = Field(default_factory=list)
    """Arguments to the entrypoint."""
    env: EnvVars = Field(default_factory=list)
    """Environment variables of the test container."""
    timeout: Duration = "10m"
    """The check fails when the Job has not completed after this long."""


class ProductionJobCheck(JobCheck):
    """A test Job run in production once it runs the change; its failure rolls back.

    It runs like the workload: with its pod template's ServiceAccount (unless
    `serviceAccountName` is set), security contexts and image pull Secrets."""

    service_account_name: ObjectName | None = None
    """ServiceAccount of the Job's pod; the target pod template's when unset (a check that
    reads or writes what the workload does needs the workload's permissions)."""


class MetricCheck(ApiModel):
    """A metric query measured repeatedly, each result judged by successCondition."""

    model_config = cel(
        rule(
            "self.failureLimit < self.count",
            "failureLimit must be less than count",
            field_path=".failureLimit",
        ),
        rule(
            "has(self.prometheus) != has(self.templateRef)",
            "set exactly one of prometheus or templateRef",
            field_path=".prometheus",
        ),
        rule(
            "has(self.templateRef) || has(self.successCondition)",
            "successCondition is required with prometheus",
            field_path=".successCondition",
        ),
    )

    name: DnsLabel
    """Name of the check (unique in its list), shown in status.checks."""
    prometheus: PrometheusQuery | None = None
    """The Prometheus server and query (or use templateRef)."""
    template_ref: LocalObjectReference | None = None
    """A MetricTemplate in this namespace giving prometheus and successCondition (or set
    prometheus). A successCondition set here overrides the template's. The rollout waits,
    Stalled, while the template does not exist."""
    success_condition: SuccessCondition | None = Field(default=None, description=CONDITION_HELP)
    interval: Duration = "30s"
    """Time between measurements."""
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    """Number of measurements."""
    failure_limit: Annotated[int, Field(ge=0, le=1000)] = 0
    """Failed measurements tolerated."""

    @model_validator(mode="after")
    def _one_source(self) -> MetricCheck:
        if self.failure_limit >= self.count:
            raise ValueError("failureLimit must be less than count")
        if (self.prometheus is None) == (self.template_ref is None):
            raise ValueError("set exactly one of prometheus or templateRef")
        if self.template_ref is None and self.success_condition is None:
            raise ValueError("successCondition is required with prometheus")
        return self


class SmokeTests(ApiModel):
    """Checks the shadow copies must pass before production is touched."""

    model_config = cel(
        rule(
            f"duration(self.readyTimeout) <= duration('{MAX_READY_TIMEOUT}')",
            f"smokeTests.readyTimeout must be at most {MAX_READY_TIMEOUT}",
            field_path=".readyTimeout",
        )
    )

    ready_for: Duration = "30s"
    """Shadow pods must be Ready without a break for this long."""
    # -- fail fast (issue 9)
    ready_timeout: Duration = "2m"
    """Every shadow pod must be Ready within this long of the smoke tests starting (image
    pulls included), or the rollout fails at once naming the pod and its last probe failure."""
    http: Annotated[
        list[HttpCheck], Field(max_length=MAX_CHECKS, json_schema_extra=list_map("name"))
    ] = Field(default_factory=list)
    """HTTP requests through Services copied into the shadow."""
    jobs: Annotated[
        list[JobCheck], Field(max_length=MAX_CHECKS, json_schema_extra=list_map("name"))
    ] = Field(default_factory=list)
    """Test Jobs run in the shadow namespace."""
    metrics: Annotated[
        list[MetricCheck], Field(max_length=MAX_CHECKS, json_schema_extra=list_map("name"))
    ] = Field(default_factory=list)
    """Metric checks judged against the shadow (`{{namespace}}` in the query is the shadow
    namespace)."""

    @model_validator(mode="after")
    def _ready_timeout(self) -> SmokeTests:
        if parse_duration(self.ready_timeout) > parse_duration(MAX_READY_TIMEOUT):
            raise ValueError(f"smokeTests.readyTimeout must be at most {MAX_READY_TIMEOUT}")
        return self
