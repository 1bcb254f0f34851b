"""ContainerImageRefresh: keep an image fresh, and never publish a broken one.

These models are the single source of truth for the CRD schema (see
``shakedown.api.crdgen``) and for the code that reads and writes the objects.
The Python attributes are the snake_case forms of the camelCase names on the
wire; ``examples/containerimagerefresh-*.yaml`` show the fields in use, and
README.md ("ContainerImageRefresh: how a run goes") what the operator does
with them.

The status has two parts: what users read (``promotedDigest``, ``lastRun``,
``history``, ``nextRunAt``, ``conditions``) and ``currentRun``, the
operator's bookkeeping for the run in flight, written after every step so that
a restarted operator continues where it stopped and never pushes, tests or
promotes twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, computed_field, model_validator

from shakedown.api.common import (
    ApiModel,
    Conditions,
    CronSchedule,
    Digest,
    DnsLabel,
    Duration,
    EnvVar,
    HttpUrl,
    ImageReference,
    ImageRepository,
    LocalObjectReference,
    Message,
    ObjectName,
    SecretKeySelector,
    ShortString,
    StatusModel,
    Tag,
    cel,
    list_map,
    rule,
    short_digest,
)

KIND = "ContainerImageRefresh"
PLURAL = "containerimagerefreshes"
SINGULAR = "containerimagerefresh"
SHORT_NAMES = ("cir",)

#: Upper bounds keep CEL cost estimates within the API server's budget.
MAX_TESTS = 64
MAX_HISTORY_LIMIT = 50


#: scp-style git addresses (``git@github.com:org/repo``), i.e. SSH.
_SCP_STYLE = re.compile(r"^[^/:]+@[^/:]+:")


# --------------------------------------------------------------------------- spec
class GitSource(ApiModel):
    """A build context taken from a git repository."""

    model_config = cel(
        rule(
            "!self.url.startsWith('ssh://') && !self.url.matches('^[^/:]+@[^/:]+:')",
            "source.git.url: SSH URLs (ssh:// or user@host:path) are not supported; "
            "use https:// with a secretRef holding username and password",
            field_path=".url",
        )
    )

    url: Annotated[
        str,
        Field(
            pattern=r"^(https?://|ssh://|git://|file://|[^/:@\s]+@)[^\s]+$",
            max_length=2048,
        ),
    ]
    """Clone URL: https://, http://, git:// or file://. SSH (ssh:// or user@host:path) is
    not supported."""
    revision: Annotated[str, Field(min_length=1, max_length=256)] = "main"
    """Branch, tag, commit or ref to build (a pull request's ref for validate-only runs)."""
    context_dir: Annotated[str, Field(max_length=1024, pattern=r"^[^/].*$|^$")] = ""
    """Directory inside the repository used as build context (relative)."""
    secret_ref: LocalObjectReference | None = None
    """Secret with credentials for an http(s) clone: keys username and password (a token
    works as the password)."""

    @model_validator(mode="after")
    def _not_ssh(self) -> GitSource:
        if self.url.startswith("ssh://") or _SCP_STYLE.match(self.url):
            raise ValueError(
                "source.git.url: SSH URLs (ssh:// or user@host:path) are not supported; "
                "use https:// with a secretRef holding username and password"
            )
        return self


class ConfigMapSource(ApiModel):
    """A build context held in a ConfigMap: each key is a file (Containerfile, scripts)."""

    name: ObjectName
    """Name of the ConfigMap in the object's namespace."""


class Source(ApiModel):
    """Where the image definition comes from: exactly one of git or configMap."""

    model_config = cel(
        rule(
            "has(self.git) != has(self.configMap)",
            "exactly one of source.git or source.configMap must be set",
        )
    )

    git: GitSource | None = None
    """Build from a git repository."""
    config_map: ConfigMapSource | None = None
    """Build from files in a ConfigMap."""
    containerfile: Annotated[str, Field(min_length=1, max_length=1024)] = "Containerfile"
    """Path of the Containerfile/Dockerfile inside the build context."""
    build_args: Annotated[
        dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=64)
    ] = Field(default_factory=dict)
    """Build arguments (ARG values) passed to the build."""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Source:
        if (self.git is None) == (self.config_map is None):
            raise ValueError("exactly one of source.git or source.configMap must be set")
        return self


class Triggers(ApiModel):
    """What, besides the schedule and manual requests, starts a run."""

    model_config = cel(
        rule(
            "duration(self.pollInterval) >= duration('10s')",
            "triggers.pollInterval must be at least 10s",
            field_path=".pollInterval",
        )
    )

    base_image: bool = True
    """Start a run when the digest of a base image (FROM) changes."""
    source: bool = True
    """Start a run when the source revision (git commit, ConfigMap content) changes."""
    poll_interval: Duration = "5m"
    """How often base image digests and the source revision are checked."""


class TestScenario(ApiModel):
    """One test run inside the candidate image, pinned by digest."""

    name: DnsLabel
    """Unique name of the scenario (used in Job names and reports)."""
    command: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=64)] = Field(
        default_factory=list
    )
    """Entrypoint override; the image's entrypoint when empty."""
    args: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=256)] = Field(
        default_factory=list
    )
    """Arguments to the command."""
    env: Annotated[list[EnvVar], Field(max_length=128)] = Field(default_factory=list)
    """Environment variables."""
    timeout: Duration = "30m"
    """The scenario fails when it runs longer than this."""


class NotifyEvent(StrEnum):
    FAILED = "Failed"
    PROMOTED = "Promoted"
    VALIDATED = "Validated"


class Webhook(ApiModel):
    """An HTTP endpoint that receives a JSON summary of a run (Slack/Matrix/Teams compatible)."""

    url: HttpUrl
    """Where the POST goes."""
    secret_ref: SecretKeySelector | None = None
    """Secret key whose value, when set, is sent as a bearer token."""


class Notify(ApiModel):
    """Where to tell people about a run's outcome."""

    webhook: Webhook | None = None
    """POST a JSON summary to this URL."""
    events: Annotated[list[NotifyEvent], Field(max_length=3)] = Field(
        default_factory=lambda: [NotifyEvent.FAILED]
    )
    """Outcomes that send a notification (not `on`: YAML 1.1 reads that key as true)."""


class ContainerImageRefreshSpec(ApiModel):
    """Build an image, test exactly that digest, and only then move the consumer tag."""

    image: ImageRepository
    """Repository of the image, without tag or digest (registry.example/ci/unit-tests)."""
    tag: Tag = "latest"
    """The tag consumers pull; moved to a new digest only after every test passed."""
    source: Source
    """Where the image definition (Containerfile and context) comes from."""
    schedule: CronSchedule | None = None
    """Cron schedule (5 fields) for periodic refresh runs; none when unset."""
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    """IANA time zone the schedule is read in (e.g. Europe/Berlin)."""
    triggers: Triggers = Field(default_factory=Triggers)
    """Changes that start a run besides the schedule and manual requests."""
    tests: Annotated[
        list[TestScenario],
        Field(min_length=1, max_length=MAX_TESTS, json_schema_extra=list_map("name")),
    ]
    """Test scenarios; each runs as a Job in the candidate image, by digest."""
    promote: bool = True
    """Move the tag on success; false validates only (for pull requests)."""
    history_limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT)] = 5
    """How many promoted digests status.history keeps (rollback targets)."""
    suspend: bool = False
    """Start no new runs; a run in flight finishes."""
    insecure_registry: bool = False
    """Allow a plain-HTTP registry (local development)."""
    push_secret_ref: LocalObjectReference | None = None
    """Secret of type kubernetes.io/dockerconfigjson used to push and re-tag."""
    build_timeout: Duration = "30m"
    """The build fails when it runs longer than this."""
    notify: Notify | None = None
    """Notifications about run outcomes."""

    @model_validator(mode="after")
    def _unique_test_names(self) -> ContainerImageRefreshSpec:
        seen: set[str] = set()
        for index, test in enumerate(self.tests):
            if test.name in seen:
                raise ValueError(f"spec.tests[{index}].name: duplicate test name {test.name!r}")
            seen.add(test.name)
        return self

    @property
    def candidate_repository(self) -> str:
        """Where candidates are pushed (by digest); the consumer tag is never touched."""
        return self.image


# --------------------------------------------------------------------------- status
class RunTrigger(StrEnum):
    """Why a run started."""

    SCHEDULE = "Schedule"
    BASE_IMAGE = "BaseImage"
    SOURCE = "Source"
    MANUAL = "Manual"
    SPEC = "Spec"
    """The object was created or its spec changed."""


class RunPhase(StrEnum):
    PENDING = "Pending"
    BUILDING = "Building"
    TESTING = "Testing"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    VALIDATED = "Validated"
    """All tests passed in a validate-only run (promote: false); nothing was promoted."""
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_RUN_PHASES


_FINISHED_RUN_PHASES = frozenset(
    {RunPhase.SUCCEEDED, RunPhase.VALIDATED, RunPhase.FAILED, RunPhase.CANCELLED}
)


class TestPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"
    """The scenario could not run (image pull, timeout, Job deleted)."""


class FailedTest(StatusModel):
    """A scenario that did not pass, with the end of its log."""

    name: ShortString
    """Name of the scenario."""
    reason: ShortString = ""
    """Why: exit code, timeout, image pull error."""
    log_tail: Annotated[str, Field(max_length=16384)] = ""
    """Last lines of the scenario's log."""


class PhaseTiming(StatusModel):
    """When one phase of a run (Build, Test, Promote) started and ended."""

    name: ShortString
    """Build, Test or Promote."""
    started_at: datetime | None = None
    """When the phase started."""
    finished_at: datetime | None = None
    """When the phase ended; unset while it runs."""


class RunSummary(StatusModel):
    """The outcome of one run, as users read it."""

    id: ShortString
    """Run id (also a label on the run's Jobs)."""
    trigger: RunTrigger
    """What started the run."""
    phase: RunPhase
    """Where the run is or how it ended."""
    started_at: datetime | None = None
    """When the run started."""
    finished_at: datetime | None = None
    """When the run ended; unset while it runs."""
    candidate_digest: Digest | None = None
    """Digest the run built and tested."""
    source_revision: ShortString | None = None
    """Source revision (commit, ConfigMap hash) the run built."""
    failed_tests: list[FailedTest] = Field(default_factory=list)
    """Scenarios that failed."""
    message: Message = ""
    """One line for people."""
    phases: Annotated[list[PhaseTiming], Field(max_length=8)] = Field(default_factory=list)
    """Start and end of each phase that ran (Build, Test, Promote)."""


class HistoryEntry(StatusModel):
    """A digest that was promoted to the tag."""

    digest: Digest
    """The promoted digest."""
    promoted_at: datetime
    """When the tag was moved to it."""
    run_id: ShortString = ""
    """Run that promoted it; empty for a rollback made by request."""


class TestRunState(StatusModel):
    """Bookkeeping for one scenario of the run in flight."""

    name: ShortString
    """Name of the scenario (spec.tests[].name)."""
    job: ShortString | None = None
    """Name of the Job running the scenario, once created."""
    phase: TestPhase = TestPhase.PENDING
    """Where the scenario is or how it ended."""
    reason: ShortString = ""
    """Why it failed: exit code, timeout, image pull error."""
    log_tail: Annotated[str, Field(max_length=16384)] = ""
    """Last lines of the scenario's log."""
    started_at: datetime | None = None
    """When the scenario's Job started."""
    finished_at: datetime | None = None
    """When the scenario ended."""


class CurrentRun(StatusModel):
    """The run in flight, written after every step so a restart resumes it."""

    id: ShortString
    """Run id (also a label on the run's Jobs)."""
    trigger: RunTrigger
    """What started the run."""
    phase: RunPhase = RunPhase.PENDING
    """Where the run is."""
    started_at: datetime | None = None
    """When the run started."""
    source_revision: ShortString | None = None
    """Revision resolved at the start of the run; the build uses exactly this."""
    base_image_digests: dict[str, Digest] = Field(default_factory=dict)
    """Base image reference -> digest resolved at the start of the run."""
    build_job: ShortString | None = None
    """Name of the build Job, once created."""
    candidate_digest: Digest | None = None
    """Digest pushed by the build; set once, so the push is never repeated."""
    candidate_reference: ImageReference | None = None
    """repository@digest the tests run against."""
    tests: list[TestRunState] = Field(default_factory=list)
    """State of each scenario of this run."""
    promoted: bool = False
    """The tag was moved; set right after the registry accepted the new manifest."""
    notified: bool = False
    """The notification for this run went out."""
    message: Message = ""
    """One line for people."""
    phases: Annotated[list[PhaseTiming], Field(max_length=8)] = Field(default_factory=list)
    """Start and end of each phase so far (Build, Test, Promote)."""


class PendingTrigger(StatusModel):
    """A request to run that arrived while another run was in flight."""

    trigger: RunTrigger
    """What asked for the run."""
    requested_at: datetime | None = None
    """When the request arrived."""
    detail: ShortString = ""
    """E.g. the new base image digest or source revision."""


class ObservedInputs(StatusModel):
    """The inputs as last polled, to detect base image and source changes."""

    source_revision: ShortString | None = None
    """Source revision (commit, ConfigMap hash) last seen."""
    base_image_digests: dict[str, Digest] = Field(default_factory=dict)
    """Base image reference -> digest last seen."""
    polled_at: datetime | None = None
    """When the inputs were last polled."""
    spec_digest: ShortString | None = None
    """Hash of the spec fields a run depends on (image, tag, source, tests, promote):
    a change there starts a run; suspend, schedule or historyLimit changes do not."""


class ContainerImageRefreshStatus(StatusModel):
    """What the operator observed and did."""

    promoted_digest: Digest | None = None
    """Digest the tag currently points to (set by shakedown)."""
    candidate_digest: Digest | None = None
    """Digest of the last built candidate."""
    last_run: RunSummary | None = None
    """The last finished (or current) run."""
    recent_runs: Annotated[list[RunSummary], Field(max_length=10)] = Field(default_factory=list)
    """The last finished runs, newest first, without log tails."""
    history: list[HistoryEntry] = Field(default_factory=list)
    """Promoted digests, newest first, at most spec.historyLimit."""
    next_run_at: datetime | None = None
    """When the schedule fires next."""
    current_run: CurrentRun | None = None
    """The run in flight (operator bookkeeping)."""
    pending_triggers: list[PendingTrigger] = Field(default_factory=list)
    """Requests that arrived during a run; handled after it."""
    observed: ObservedInputs | None = None
    """Inputs as last polled."""
    handled_run_request: ShortString | None = None
    """Last value of the shakedown.dev/run-requested annotation that was acted on."""
    handled_rollback_to: ShortString | None = None
    """Last value of the shakedown.dev/rollback-to annotation that was acted on."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Reconciling, Stalled (kstatus) and kind-specific conditions."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status reflects."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def promoted_digest_short(self) -> str | None:
        """promotedDigest shortened for `kubectl get` (derived; written with the status)."""
        return short_digest(self.promoted_digest) or None


class ContainerImageRefresh(ApiModel):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = "shakedown.dev/v1alpha1"
    kind: str = KIND
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ContainerImageRefreshSpec
    status: ContainerImageRefreshStatus = Field(default_factory=ContainerImageRefreshStatus)
