"""The ContainerImageRefresh spec: what to build, from where, how to test it, when to run."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shakedown.api.common import (
    GIT_REVISION_PATTERN,
    RELATIVE_PATH_PATTERN,
    ApiModel,
    Args,
    Command,
    CronSchedule,
    DnsLabel,
    Duration,
    EnvVars,
    HttpUrl,
    ImageRepository,
    LocalObjectReference,
    ObjectName,
    SecretKeySelector,
    Tag,
    cel,
    duration_at_least,
    exactly_one,
    list_map,
    rule,
)
from shakedown.api.imagerefresh.meta import MAX_HISTORY_LIMIT, MAX_TESTS

SSH_REFUSED = (
    "source.git.url: SSH URLs (ssh:// or user@host:path) are not supported; "
    "use https:// with a secretRef holding username and password"
)
USERINFO_REFUSED = (
    "source.git.url: credentials in the URL would show in status, Events and logs; "
    "put them in a Secret named by source.git.secretRef"
)
FILE_REFUSED = "source.git.url: file:// would read the build pod's own disk; use https://"
REVISION_DOTS = "source.git.revision: '..' is not allowed in a revision"

#: scp-style git addresses (``git@github.com:org/repo``), i.e. SSH.
_SCP_STYLE = re.compile(r"^[^/:]+@[^/:]+:")


class GitSource(ApiModel):
    """A build context taken from a git repository."""

    model_config = cel(
        rule(
            "!self.url.startsWith('ssh://') && !self.url.matches('^[^/:]+@[^/:]+:')",
            SSH_REFUSED,
            field_path=".url",
        ),
        rule("!self.url.matches('^[a-z]+://[^/]*@')", USERINFO_REFUSED, field_path=".url"),
        rule("!self.url.startsWith('file://')", FILE_REFUSED, field_path=".url"),
        rule("!self.revision.contains('..')", REVISION_DOTS, field_path=".revision"),
    )

    url: Annotated[
        str,
        Field(
            pattern=r"^(https?://|ssh://|git://|file://|[^/:@\s]+@)[^\s]+$",
            max_length=2048,
        ),
    ]
    """Clone URL: https://, http:// or git://. SSH (ssh:// or user@host:path), file:// (the
    build pod's own disk) and credentials in the URL are refused: use secretRef."""
    revision: Annotated[str, Field(min_length=1, max_length=256, pattern=GIT_REVISION_PATTERN)] = (
        "main"
    )
    """Branch, tag, commit or ref to build (a pull request's ref for validate-only runs).
    Letters, digits and _./+=,@- only, not starting with - and without '..'."""
    context_dir: Annotated[str, Field(max_length=1024, pattern=RELATIVE_PATH_PATTERN)] = ""
    """Directory inside the repository used as build context: relative, without '..'
    segments, so the build never sees files outside the checkout."""
    secret_ref: LocalObjectReference | None = None
    """Secret with credentials for an http(s) clone: keys username and password (a token
    works as the password)."""

    @model_validator(mode="after")
    def _not_ssh(self) -> GitSource:
        if self.url.startswith("ssh://") or _SCP_STYLE.match(self.url):
            raise ValueError(SSH_REFUSED)
        if re.match(r"^[a-z]+://[^/]*@", self.url):
            raise ValueError(USERINFO_REFUSED)
        if self.url.startswith("file://"):
            raise ValueError(FILE_REFUSED)
        if ".." in self.revision:
            raise ValueError(REVISION_DOTS)
        return self


class ConfigMapSource(ApiModel):
    """A build context held in a ConfigMap: each key is a file (Containerfile, scripts)."""

    name: ObjectName
    """Name of the ConfigMap in the object's namespace."""


class Source(ApiModel):
    """Where the image definition comes from: exactly one of git or configMap."""

    model_config, _exactly_one_source = exactly_one(
        "git", "config_map", "exactly one of source.git or source.configMap must be set"
    )

    git: GitSource | None = None
    """Build from a git repository."""
    config_map: ConfigMapSource | None = None
    """Build from files in a ConfigMap."""
    containerfile: Annotated[
        str, Field(min_length=1, max_length=1024, pattern=RELATIVE_PATH_PATTERN)
    ] = "Containerfile"
    """Path of the Containerfile/Dockerfile inside the build context: relative, without
    '..' segments."""
    build_args: Annotated[
        dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=64)
    ] = Field(default_factory=dict)
    """Build arguments (ARG values) passed to the build."""


class Triggers(ApiModel):
    """What, besides the schedule and manual requests, starts a run."""

    model_config, _not_too_often = duration_at_least(
        "poll_interval", "10s", "triggers.pollInterval must be at least 10s"
    )

    base_image: StrictBool = True
    """Start a run when the digest of a base image (FROM) changes."""
    source: StrictBool = True
    """Start a run when the source revision (git commit, ConfigMap content) changes."""
    poll_interval: Duration = "5m"
    """How often base image digests and the source revision are checked."""


class TestScenario(ApiModel):
    """One test run inside the candidate image, pinned by digest."""

    name: DnsLabel
    """Unique name of the scenario (used in Job names and reports)."""
    command: Command = Field(default_factory=list)
    """Entrypoint override; the image's entrypoint when empty."""
    args: Args = Field(default_factory=list)
    """Arguments to the command."""
    env: EnvVars = Field(default_factory=list)
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


#: A Kubernetes resource quantity (``500m``, ``2Gi``), as the API server parses them.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=32)]


class ResourceList(ApiModel):
    """Amounts of the resources a build uses; each left out keeps the operator's default."""

    cpu: Quantity | None = None
    """CPU, e.g. 500m or 2."""
    memory: Quantity | None = None
    """Memory, e.g. 512Mi or 4Gi."""
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")
    """Node disk for the build's layers and cache, e.g. 20Gi."""

    def amounts(self) -> dict[str, str]:
        """The set amounts, keyed as a container's resources are."""
        return {k: str(v) for k, v in self.model_dump(by_alias=True, exclude_none=True).items()}


class BuildResources(ApiModel):
    """Requests and limits of the build pod; each key left out keeps the operator's default."""

    requests: ResourceList = Field(default_factory=ResourceList)
    """What the scheduler reserves for the build."""
    limits: ResourceList = Field(default_factory=ResourceList)
    """The most the build may use; a build over its memory or disk limit fails the run."""


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
    promote: StrictBool = True
    """Move the tag on success; false validates only (for pull requests)."""
    history_limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_LIMIT)] = 5
    """How many promoted digests status.history keeps (rollback targets)."""
    suspend: StrictBool = False
    """Start no new runs; a run in flight finishes."""
    insecure_registry: StrictBool = False
    """Allow a plain-HTTP registry (local development)."""
    push_secret_ref: LocalObjectReference | None = None
    """Secret of type kubernetes.io/dockerconfigjson used to push and re-tag."""
    build_timeout: Duration = "30m"
    """The build fails when it runs longer than this."""
    build_resources: BuildResources = Field(default_factory=BuildResources)
    """Requests and limits of the build pod (defaults: requests cpu 250m, memory 512Mi;
    limits cpu 2, memory 4Gi, ephemeral-storage 20Gi)."""
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
