"""InfraRollout: prove a change to deployed infrastructure, then shift production.

These models are the single source of truth for the CRD schema (see
``shakedown.api.crdgen``) and for the code that reads and writes the objects.
The objects in ``examples/infrarollout-*.yaml`` show the fields in use, and
README.md ("InfraRollout: how a rollout runs") what the operator does with them.

The status carries, besides what users read (``phase``, ``revision``,
``currentStep``, ``history``, ``conditions``), everything a restarted operator
needs to continue without repeating a shift: the change hash the rollout is
for, where the snapshot of production is kept, which checks passed, whether
the shift began.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from shakedown.api.common import (
    ApiModel,
    Conditions,
    DnsLabel,
    Duration,
    EnvVar,
    ImageReference,
    LocalObjectReference,
    Message,
    ObjectName,
    ShortString,
    StatusModel,
    cel,
    list_map,
    rule,
)
from shakedown.api.metrictemplate import CONDITION_HELP, PrometheusQuery, SuccessCondition

KIND = "InfraRollout"
PLURAL = "infrarollouts"
SINGULAR = "infrarollout"
SHORT_NAMES = ("iro",)

MAX_TARGETS = 32
MAX_STEPS = 32
MAX_CHECKS = 32
MAX_READY_TIMEOUT = "1h"


class TargetKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"
    SERVICE = "Service"

    @property
    def is_workload(self) -> bool:
        return self in WORKLOAD_KINDS


WORKLOAD_KINDS = frozenset({TargetKind.DEPLOYMENT, TargetKind.STATEFUL_SET, TargetKind.DAEMON_SET})


# --------------------------------------------------------------------------- spec
class Target(ApiModel):
    """A production object in the rollout's namespace that the change touches."""

    kind: TargetKind
    """Kind of the object."""
    name: ObjectName
    """Name of the object."""


class ImageChange(ApiModel):
    """A new image for one container of the workload targets."""

    container: DnsLabel
    """Container name (in every workload target that has it)."""
    image: ImageReference
    """New image, preferably pinned by digest (repository@sha256:...)."""


class PatchType(StrEnum):
    MERGE = "merge"
    JSON = "json"
    STRATEGIC = "strategic"


class Patch(ApiModel):
    """A patch applied to one target (in the shadow first, then in production)."""

    target: Target
    """The target to patch; must be listed in spec.targets."""
    type: PatchType = PatchType.MERGE
    """merge (RFC 7386), json (RFC 6902) or strategic (Kubernetes strategic merge)."""
    patch: Annotated[Any, Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})]
    """The patch body: an object for merge/strategic, a list of operations for json."""


class Change(ApiModel):
    """What changes: images, patches and/or full manifests of targets."""

    images: Annotated[
        list[ImageChange], Field(max_length=MAX_TARGETS, json_schema_extra=list_map("container"))
    ] = Field(default_factory=list)
    """New images per container."""
    patches: Annotated[list[Patch], Field(max_length=MAX_TARGETS)] = Field(default_factory=list)
    """Patches per target."""
    manifests: Annotated[
        list[
            Annotated[
                dict[str, Any],
                Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}),
            ]
        ],
        Field(max_length=MAX_TARGETS),
    ] = Field(default_factory=list)
    """Full desired manifests of targets (replace the target's spec/data)."""


class ImageFrom(ApiModel):
    """Take the image from a ContainerImageRefresh's promoted digest."""

    container_image_refresh: ObjectName
    """Name of the ContainerImageRefresh in this namespace."""
    container: DnsLabel
    """Container whose image is set to the promoted digest."""


class Shadow(ApiModel):
    """The shadow namespace where the changed copies are proven."""

    model_config = cel(
        rule(
            "duration(self.ttl) >= duration('1m')",
            "shadow.ttl must be at least 1m",
            field_path=".ttl",
        )
    )

    ttl: Duration = "1h"
    """The shadow namespace is deleted after this long at the latest."""
    replicas: Annotated[int, Field(ge=1, le=10)] = 1
    """Replicas of each workload copy in the shadow."""
    isolate: bool = True
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
    command: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=64)] = Field(
        default_factory=list
    )
    """Entrypoint of the test container; the image's when empty."""
    args: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=256)] = Field(
        default_factory=list
    )
    """Arguments to the entrypoint."""
    env: Annotated[list[EnvVar], Field(max_length=128)] = Field(default_factory=list)
    """Environment variables of the test container."""
    timeout: Duration = "10m"
    """The check fails when the Job has not completed after this long."""


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


class StrategyType(StrEnum):
    REPLACE = "Replace"
    CANARY = "Canary"
    BLUE_GREEN = "BlueGreen"


class CanaryStep(ApiModel):
    """Either shift `weight` percent of replicas to the new version, or pause."""

    model_config = cel(
        rule(
            "has(self.weight) != has(self.pause)",
            "a canary step sets exactly one of weight or pause",
        )
    )

    weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Percent of the workload's replicas running the new version after this step."""
    pause: Duration | None = None
    """Wait this long (or until shakedown.dev/promote is set)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> CanaryStep:
        if (self.weight is None) == (self.pause is None):
            raise ValueError("a canary step sets exactly one of weight or pause")
        return self


class Canary(ApiModel):
    """Shift production in steps of replica weights, with pauses in between."""

    model_config = cel(
        rule(
            "self.steps.filter(s, has(s.weight)).map(s, s.weight).isSorted()",
            "canary weights must not decrease",
            field_path=".steps",
        )
    )

    steps: Annotated[list[CanaryStep], Field(min_length=1, max_length=MAX_STEPS)]
    """Steps in order; production is fully shifted after the last one."""

    @model_validator(mode="after")
    def _non_decreasing(self) -> Canary:
        weights = [s.weight for s in self.steps if s.weight is not None]
        if weights != sorted(weights):
            raise ValueError("canary weights must not decrease")
        return self


class BlueGreen(ApiModel):
    """Run the new version beside the old one, then switch a Service's selector to it."""

    service: ObjectName | None = None
    """Service whose selector is switched; the single Service target when unset."""
    scale_down_delay: Duration = "30s"
    """Keep the old version running this long after the switch."""


class Strategy(ApiModel):
    """How production is shifted to the change."""

    model_config = cel(
        rule(
            "!has(self.canary) || self.type == 'Canary'",
            "strategy.canary is only allowed with strategy.type Canary",
            field_path=".canary",
        ),
        rule(
            "self.type != 'Canary' || has(self.canary)",
            "strategy.type Canary needs strategy.canary.steps",
            field_path=".type",
        ),
        rule(
            "!has(self.blueGreen) || self.type == 'BlueGreen'",
            "strategy.blueGreen is only allowed with strategy.type BlueGreen",
            field_path=".blueGreen",
        ),
    )

    type: StrategyType = StrategyType.REPLACE
    """Replace (all at once), Canary (in weighted steps) or BlueGreen (switch a Service)."""
    canary: Canary | None = None
    """Steps of a Canary shift (only with type Canary)."""
    blue_green: BlueGreen | None = None
    """Settings of a BlueGreen shift (only with type BlueGreen)."""

    @model_validator(mode="after")
    def _matches_type(self) -> Strategy:
        if self.canary is not None and self.type is not StrategyType.CANARY:
            raise ValueError("strategy.canary is only allowed with strategy.type Canary")
        if self.type is StrategyType.CANARY and self.canary is None:
            raise ValueError("strategy.type Canary needs strategy.canary.steps")
        if self.blue_green is not None and self.type is not StrategyType.BLUE_GREEN:
            raise ValueError("strategy.blueGreen is only allowed with strategy.type BlueGreen")
        return self


class Rollback(ApiModel):
    """When production is rolled back to the snapshot by itself."""

    automatic: bool = True
    """Roll back without a person when a check fails after the shift began."""
    not_ready_for: Duration = "10s"
    """A production pod not Ready this long counts as a failure."""
    max_restarts: Annotated[int, Field(ge=0, le=1000)] = 2
    """More container restarts than this (since the shift) count as a failure."""
    metrics: Annotated[
        list[MetricCheck], Field(max_length=MAX_CHECKS, json_schema_extra=list_map("name"))
    ] = Field(default_factory=list)
    """Metric checks judged against production from the shift to the end of the bake
    (`{{namespace}}` in the query is the production namespace); a failure rolls back.
    Each is measured `count` times `interval` apart: let that cover the bake."""


_WORKLOAD_RULE = "self.targets.exists(t, t.kind in ['Deployment', 'StatefulSet', 'DaemonSet'])"
_CHANGES_RULE = (
    "has(self.imageFrom) || (has(self.change) && ("
    "(has(self.change.images) && size(self.change.images) > 0)"
    " || (has(self.change.patches) && size(self.change.patches) > 0)"
    " || (has(self.change.manifests) && size(self.change.manifests) > 0)))"
)
_PATCH_TARGET_RULE = (
    "!has(self.change) || !has(self.change.patches) || self.change.patches.all(p, "
    "self.targets.exists(t, t.kind == p.target.kind && t.name == p.target.name))"
)
_IMAGE_FROM_RULE = (
    "!has(self.imageFrom) || !has(self.change) || !has(self.change.images) || "
    "!self.change.images.exists(i, i.container == self.imageFrom.container)"
)


class InfraRolloutSpec(ApiModel):
    """Snapshot production, prove the change in a shadow namespace, shift, bake."""

    model_config = cel(
        rule(
            _WORKLOAD_RULE,
            "spec.targets needs at least one Deployment, StatefulSet or DaemonSet",
            field_path=".targets",
        ),
        rule(
            _CHANGES_RULE,
            "spec.change (images, patches or manifests) or spec.imageFrom must be set",
            field_path=".change",
        ),
        rule(
            _PATCH_TARGET_RULE,
            "every spec.change.patches[].target must be listed in spec.targets",
            field_path=".change.patches",
        ),
        rule(
            _IMAGE_FROM_RULE,
            "spec.imageFrom.container is also set in spec.change.images",
            field_path=".imageFrom.container",
        ),
    )

    targets: Annotated[
        list[Target],
        Field(min_length=1, max_length=MAX_TARGETS, json_schema_extra=list_map("kind", "name")),
    ]
    """Production objects in this namespace that the change touches (rolled back together)."""
    change: Change = Field(default_factory=Change)
    """The change to prove and roll out."""
    image_from: ImageFrom | None = None
    """Take a container's image from a ContainerImageRefresh's promoted digest."""
    shadow: Shadow = Field(default_factory=Shadow)
    """Where the change is proven before production."""
    smoke_tests: SmokeTests = Field(default_factory=SmokeTests)
    """Checks in the shadow."""
    strategy: Strategy = Field(default_factory=Strategy)
    """How production is shifted."""
    bake: Duration = "5m"
    """Keep watching production this long after the shift."""
    rollback: Rollback = Field(default_factory=Rollback)
    """Automatic rollback rules."""
    timeout: Duration = "30m"
    """The rollout fails (and rolls back if it shifted) when it takes longer than this."""
    # -- prove-only (issue 9)
    promote: bool = True
    """false: prove only. Snapshot, shadow and smoke tests run, then the revision ends as
    Validated (or Failed) without touching production or taking its locks."""

    @model_validator(mode="after")
    def _consistent(self) -> InfraRolloutSpec:
        if not any(t.kind.is_workload for t in self.targets):
            raise ValueError(
                "spec.targets: needs at least one Deployment, StatefulSet or DaemonSet"
            )
        change = self.change
        if self.image_from is None and not (change.images or change.patches or change.manifests):
            raise ValueError(
                "spec.change: set images, patches or manifests (or set spec.imageFrom)"
            )
        return self

    def workload_targets(self) -> list[Target]:
        return [t for t in self.targets if t.kind.is_workload]


# --------------------------------------------------------------------------- status
class RolloutPhase(StrEnum):
    PENDING = "Pending"
    SNAPSHOTTING = "Snapshotting"
    SHADOWING = "Shadowing"
    SMOKE_TESTING = "SmokeTesting"
    SHIFTING = "Shifting"
    BAKING = "Baking"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    ABORTED = "Aborted"
    VALIDATED = "Validated"
    """Proven in the shadow with promote: false; production untouched."""

    @property
    def finished(self) -> bool:
        return self in _FINISHED_ROLLOUT_PHASES


_FINISHED_ROLLOUT_PHASES = frozenset(
    {
        RolloutPhase.SUCCEEDED,
        RolloutPhase.ROLLED_BACK,
        RolloutPhase.FAILED,
        RolloutPhase.ABORTED,
        RolloutPhase.VALIDATED,
    }
)


class RolloutResult(StrEnum):
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    ABORTED = "Aborted"
    VALIDATED = "Validated"


class RolloutHistoryEntry(StatusModel):
    """A finished revision of the rollout."""

    revision: Annotated[int, Field(ge=0)]
    """Revision number of the rollout."""
    result: RolloutResult
    """How it ended: Succeeded, Validated (prove only), RolledBack, Failed or Aborted."""
    started_at: datetime | None = None
    """When the revision started."""
    finished_at: datetime | None = None
    """When it ended."""
    reason: Message = ""
    """Why it ended that way."""
    change_hash: ShortString = ""
    """Hash of the spec (and resolved images) it rolled out."""


class SnapshotTarget(StatusModel):
    """One target as it was before the shift."""

    kind: TargetKind
    """Kind of the target."""
    name: ObjectName
    """Name of the target."""
    resource_version: ShortString = ""
    """metadata.resourceVersion of the target when snapshotted."""
    existed: bool = True
    """False when the target did not exist (rollback deletes it)."""


class Snapshot(StatusModel):
    """Where production's state before the shift is kept."""

    config_map: ObjectName | None = None
    """ConfigMap holding the snapshot (one key per target)."""
    secret: ObjectName | None = None
    """Secret holding the snapshot (one key per object; a Secret because targets may be Secrets)."""
    taken_at: datetime | None = None
    """When the snapshot was taken."""
    targets: list[SnapshotTarget] = Field(default_factory=list)
    """The targets in the snapshot."""


class CheckType(StrEnum):
    READY = "Ready"
    HTTP = "HTTP"
    JOB = "Job"
    METRIC = "Metric"


class CheckPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"


class CheckStatus(StatusModel):
    """The state of one check of the current revision."""

    name: ShortString
    """Name of the check (Ready for the readiness check)."""
    type: CheckType
    """Ready, HTTP, Job or Metric."""
    phase: CheckPhase = CheckPhase.PENDING
    """Pending, Running, Passed or Failed."""
    message: Message = ""
    """The check's verdict in words (the last measurement for a metric)."""
    job: ShortString | None = None
    """Name of the Job of a Job check."""
    successes: Annotated[int, Field(ge=0)] = 0
    """Passed measurements of a metric check."""
    failures: Annotated[int, Field(ge=0)] = 0
    """Failed measurements of a metric check."""
    started_at: datetime | None = None
    """When the check started."""
    finished_at: datetime | None = None
    """When the check ended."""


class ResolvedImage(StatusModel):
    """A container's image after spec.imageFrom was resolved."""

    container: ShortString
    """Container name."""
    image: ImageReference
    """Image the container is set to."""


class InfraRolloutStatus(StatusModel):
    """What the operator observed and did."""

    phase: RolloutPhase = RolloutPhase.PENDING
    """Where the rollout is."""
    revision: Annotated[int, Field(ge=0)] = 0
    """Counts rollouts of this object (one per distinct change)."""
    shadow_namespace: ShortString | None = None
    """Namespace holding the shadow copies while they exist."""
    shadow_expires_at: datetime | None = None
    """When the shadow namespace is deleted at the latest."""
    current_step: Annotated[int, Field(ge=0)] | None = None
    """Index of the canary step in progress."""
    step_started_at: datetime | None = None
    """When the current canary step began."""
    rollback_reason: Message | None = None
    """Why production was rolled back."""
    history: list[RolloutHistoryEntry] = Field(default_factory=list)
    """Past rollouts, newest first."""
    change_hash: ShortString | None = None
    """Hash of the spec (and resolved images) this revision rolls out."""
    resolved_images: list[ResolvedImage] = Field(default_factory=list)
    """Images after imageFrom was resolved."""
    started_at: datetime | None = None
    """When this revision started."""
    phase_started_at: datetime | None = None
    """When the current phase began."""
    snapshot: Snapshot | None = None
    """Where production's state before the shift is kept."""
    checks: list[CheckStatus] = Field(default_factory=list)
    """Smoke and production checks of this revision, with results."""
    shift_started: bool = False
    """Production was touched; failures from now on roll back."""
    shift_started_at: datetime | None = None
    """When production was first touched (restarts before it are not this change's)."""
    failure_observed_at: datetime | None = None
    """When the failure that started the rollback became observable."""
    # -- issue 9
    failure_reason: ShortString | None = None
    """CamelCase cause of a Failed revision (CrashLoop, ImagePull, ReadyTimeout, ...)."""
    waiting_for: Message | None = None
    """What the rollout waits for, in words (a pause, pods Ready, a check)."""
    handled_promote: ShortString | None = None
    """Last value of the shakedown.dev/promote annotation acted on."""
    handled_abort: ShortString | None = None
    """Last value of the shakedown.dev/abort annotation acted on."""
    handled_retry: ShortString | None = None
    """Last value of the shakedown.dev/retry annotation acted on."""
    handled_undo: ShortString | None = None
    """Last value of the shakedown.dev/undo annotation acted on."""
    undo_revision: Annotated[int, Field(ge=1)] | None = None
    """While undoing: the revision whose snapshot (production before it) is restored."""
    message: Message = ""
    """One line for people."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Reconciling, Stalled (kstatus) and kind-specific conditions."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status reflects."""


class InfraRollout(ApiModel):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = "shakedown.dev/v1alpha1"
    kind: str = KIND
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: InfraRolloutSpec
    status: InfraRolloutStatus = Field(default_factory=InfraRolloutStatus)
