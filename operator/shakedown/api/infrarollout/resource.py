"""A whole InfraRollout object, as the API server returns it."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shakedown.api.common import (
    ApiModel,
)
from shakedown.api.infrarollout.meta import KIND
from shakedown.api.infrarollout.spec import InfraRolloutSpec
from shakedown.api.infrarollout.status import InfraRolloutStatus


class InfraRollout(ApiModel):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = "shakedown.dev/v1alpha1"
    kind: str = KIND
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: InfraRolloutSpec
    status: InfraRolloutStatus = Field(default_factory=InfraRolloutStatus)
