"""Types shared by both custom resources.

The string formats users type (durations, image references, digests, cron
schedules, names) are defined once here, as annotated types that carry their
pattern, so the pydantic models and the generated CRD schema refuse the same
input with the same rule. ``parse_duration`` turns the duration format into
seconds for the planners.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel

# --------------------------------------------------------------------------- patterns
#: Go-style durations restricted to whole hours, minutes and seconds, in that order:
#: ``30s``, ``5m``, ``1h30m``. CEL's ``duration()`` parses the same strings, which
#: lets CRD validation rules compare durations.
#: The digit counts are bounded so no duration overflows a planner's datetime
#: arithmetic or CEL's ``duration()``; ``MAX_DURATION`` bounds the total.
DURATION_PATTERN = r"^([0-9]{1,4}h)?([0-9]{1,6}m)?([0-9]{1,8}s)?$"
#: The longest duration any field accepts: 30 days.
MAX_DURATION = "720h"
MAX_DURATION_SECONDS = 720 * 3600
#: A path inside a build context: relative, no ``..`` segment (RE2 and Python alike).
_SEGMENT = r"([^./][^/]*|\.[^./][^/]*|\.\.[^/]+|\.)"
RELATIVE_PATH_PATTERN = rf"^({_SEGMENT}(/{_SEGMENT})*/?)?$"
#: A Git revision: a branch, tag, ref or commit, as ``git check-ref-format`` allows
#: them, minus what a shell or git's option parser could read as something else.
GIT_REVISION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_./+=,@-]*$"
#: An image repository without tag or digest: ``registry.example:5000/ci/unit-tests``.
IMAGE_REPOSITORY_PATTERN = r"^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$"
#: A full image reference: repository plus an optional tag and an optional digest.
IMAGE_REFERENCE_PATTERN = (
    r"^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
#: An OCI tag.
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
#: A sha256 content digest.
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
#: Five cron fields, or one of the @-macros croniter understands.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9A-Za-z*?,/-]+( +[0-9A-Za-z*?,/-]+){4})$"
)
#: An RFC 1123 label (names of tests, checks, containers).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: An RFC 1123 subdomain (names of Kubernetes objects).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: An environment variable name.
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: A http(s) URL.
#: An http(s) URL without userinfo: credentials belong in Secrets, never in a
#: spec that status, Events and logs repeat.
HTTP_URL_PATTERN = r"^https?://[^\s/@?#]+([/?#][^\s]*)?$"
#: A condition reason (Kubernetes API conventions: CamelCase).
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


def _at_most_max_duration(text: str) -> str:
    if parse_duration(text) > MAX_DURATION_SECONDS:
        raise ValueError(f"{text} is longer than {MAX_DURATION} (30 days), the most allowed")
    return text


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        min_length=2,
        max_length=32,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"duration(self) <= duration('{MAX_DURATION}')",
                    "message": f"must be at most {MAX_DURATION} (30 days)",
                }
            ]
        },
    ),
    AfterValidator(_at_most_max_duration),
]
ImageRepository = Annotated[str, Field(pattern=IMAGE_REPOSITORY_PATTERN, max_length=255)]
ImageReference = Annotated[str, Field(pattern=IMAGE_REFERENCE_PATTERN, max_length=400)]
Tag = Annotated[str, Field(pattern=TAG_PATTERN, max_length=128)]
Digest = Annotated[str, Field(pattern=DIGEST_PATTERN, max_length=71)]
CronSchedule = Annotated[str, Field(pattern=CRON_PATTERN, max_length=128)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
ObjectName = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]
HttpUrl = Annotated[str, Field(pattern=HTTP_URL_PATTERN, max_length=2048)]
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN, min_length=1, max_length=256)]
ShortString = Annotated[str, Field(max_length=256)]
Message = Annotated[str, Field(max_length=32768)]

_DURATION_RE = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``5m`` or ``1h30m``.

    Raises ``ValueError`` naming the text when it is not a duration.
    """
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    total = 0
    for group, factor in zip(match.groups(), (3600, 60, 1), strict=True):
        if group:
            total += int(group[:-1]) * factor
    return total


def format_duration(seconds: float) -> str:
    """The inverse of ``parse_duration``, rounded to whole seconds (``0s`` for zero)."""
    remaining = max(0, round(seconds))
    hours, remaining = divmod(remaining, 3600)
    minutes, secs = divmod(remaining, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{secs}s" if secs or not text else ""
    return text


def short_digest(digest: str | None, length: int = 12) -> str:
    """``sha256:0123456789ab`` style prefix shown in tables."""
    if not digest:
        return ""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:length]}" if hexpart else digest[:length]


def cel(*rules: dict[str, str]) -> ConfigDict:
    """Model config carrying CEL validation rules for the generated CRD.

    Each rule is ``{"rule": ..., "message": ...}`` plus optionally ``fieldPath``
    (relative, e.g. ``.weight``) so the API server's error names the field.
    """
    validations: list[JsonValue] = [dict(r) for r in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def rule(expression: str, message: str, *, field_path: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry."""
    entry = {"rule": expression, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def exactly_one(first: str, second: str, message: str) -> tuple[ConfigDict, Any]:
    """The model config and validator of a model where exactly one of two fields is set.

    One declaration gives both sides of the rule: the CEL rule in the CRD (the API
    server refuses the object) and the model validator (Python refuses objects read
    back or built by the planners), with one message and the camelCase field names.
    """

    def check(model: BaseModel) -> BaseModel:
        if (getattr(model, first) is None) == (getattr(model, second) is None):
            raise ValueError(message)
        return model

    expression = f"has(self.{to_camel(first)}) != has(self.{to_camel(second)})"
    return cel(rule(expression, message)), model_validator(mode="after")(check)


def duration_at_least(field: str, minimum: str, message: str) -> tuple[ConfigDict, Any]:
    """The model config and validator of a model whose duration ``field`` has a minimum.

    Like ``exactly_one``: the CEL rule (naming the field) and the model validator.
    """

    def check(model: BaseModel) -> BaseModel:
        if parse_duration(getattr(model, field)) < parse_duration(minimum):
            raise ValueError(message)
        return model

    camel = to_camel(field)
    expression = f"duration(self.{camel}) >= duration('{minimum}')"
    config = cel(rule(expression, message, field_path=f".{camel}"))
    return config, model_validator(mode="after")(check)


def list_map(*keys: str) -> dict[str, Any]:
    """Schema extension making a list a map keyed by ``keys``: duplicates are refused."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


# --------------------------------------------------------------------------- base models
class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, immutable in Python.

    Attribute docstrings become field descriptions in the CRD, so the
    ``kubectl explain`` text lives next to the field it documents.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_api(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, no unset optionals."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def validated_copy(self, changes: Mapping[str, object]) -> Self:
        """A copy with ``changes`` (attribute names), validated like input from the API server.

        ``model_copy(update=...)`` skips validation: a wrong value (``phase='NotAPhase'``)
        would only be refused when the API server stores the status, far from the code
        that made it. Here it is refused at once, naming the field. The models the
        planners change wrap this in a typed ``evolve(**changes)``, so mypy checks the
        names and types of the changes at each call as well.
        """
        fields = type(self).model_fields
        unknown = sorted(changes.keys() - fields.keys())
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        current = {name: getattr(self, name) for name in fields}
        return self.model_validate({**current, **changes})


class StatusModel(ApiModel):
    """Base of status models: tolerant of fields written by newer operators."""

    model_config = ConfigDict(extra="ignore")


#: Marks a member of a ``Phase`` enum as one that ends what it describes:
#: ``SUCCEEDED = "Succeeded", FINISHED``.
FINISHED = True
#: Marks a finishing member as an end without success:
#: ``FAILED = "Failed", FINISHED, UNSUCCESSFUL``.
UNSUCCESSFUL = True


class Phase(StrEnum):
    """The phase of a run or revision; each member says where it is declared whether it ends it.

    ``phase.finished`` is what the planners, the CLI's ``wait`` and the metrics
    ask; ``phase.failed`` (an end without success) is what ``wait`` and
    ``prove`` turn into a failing exit code. The value (what status holds)
    stays the plain string.
    """

    _value_: str
    finished: bool
    failed: bool

    def __new__(cls, value: str, finished: bool = False, failed: bool = False) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.finished = finished
        member.failed = failed
        return member


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the object's current state (Kubernetes API conventions)."""

    type: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=316)]
    """Type of condition: Ready, Reconciling or Stalled (kstatus), or a kind-specific one."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(pattern=REASON_PATTERN, min_length=1, max_length=1024)]
    """A CamelCase word for the last transition, for machines."""
    message: Message = ""
    """A sentence for people, naming the field when the spec is at fault."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation this condition was computed from."""
    last_transition_time: datetime
    """When status last changed (not when the condition was last checked)."""


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: ObjectName
    """Name of the object."""


class SecretKeySelector(ApiModel):
    """A key of a Secret in the same namespace."""

    name: ObjectName
    """Name of the Secret."""
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)]
    """Key within the Secret."""


class ConfigMapKeySelector(ApiModel):
    """A key of a ConfigMap in the same namespace."""

    name: ObjectName
    """Name of the ConfigMap."""
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)]
    """Key within the ConfigMap."""


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from (exactly one source)."""

    model_config, _one_source = exactly_one(
        "secret_key_ref",
        "config_map_key_ref",
        "exactly one of secretKeyRef or configMapKeyRef must be set",
    )

    secret_key_ref: SecretKeySelector | None = None
    """A key of a Secret."""
    config_map_key_ref: ConfigMapKeySelector | None = None
    """A key of a ConfigMap."""


class EnvVar(ApiModel):
    """An environment variable for a test container."""

    model_config = cel(
        rule(
            "!(has(self.value) && has(self.valueFrom))",
            "value and valueFrom are mutually exclusive",
            field_path=".valueFrom",
        )
    )

    name: EnvName
    """Name of the variable."""
    value: Annotated[str, Field(max_length=32768)] | None = None
    """Literal value."""
    value_from: EnvVarSource | None = None
    """Take the value from a Secret or ConfigMap key instead."""

    @model_validator(mode="after")
    def _one_value(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


#: A container's command and arguments, and its environment, as the test containers take them.
Command = Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=64)]
Args = Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=256)]
EnvVars = Annotated[list[EnvVar], Field(max_length=128)]


class ObjectRef(ApiModel):
    """A kind and a name in the object's namespace."""

    kind: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=63)]
    """Kind of the object, e.g. Deployment."""
    name: ObjectName
    """Name of the object."""


#: Conditions as the API conventions list them: one entry per type (a map keyed by
#: type, so server-side apply and strategic merge treat them per type).
Conditions = Annotated[list[Condition], Field(max_length=32, json_schema_extra=list_map("type"))]


SpecT = TypeVar("SpecT", bound=ApiModel)


class ApiObject(ApiModel, Generic[SpecT]):
    """A whole object as read from the API server (metadata kept as a plain mapping).

    Each kind subclasses it with its spec model, names its ``kind`` and adds a
    ``status`` when it has one, so the envelope is written once for all kinds.
    """

    model_config = ConfigDict(extra="ignore")

    api_version: str = "shakedown.dev/v1alpha1"
    kind: str
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: SpecT
