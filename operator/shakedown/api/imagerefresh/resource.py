"""A whole ContainerImageRefresh object, as the API server returns it."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from shakedown.api.common import (
    ApiModel,
)
from shakedown.api.imagerefresh.meta import KIND
from shakedown.api.imagerefresh.spec import ContainerImageRefreshSpec
from shakedown.api.imagerefresh.status import ContainerImageRefreshStatus


class ContainerImageRefresh(ApiModel):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = "shakedown.dev/v1alpha1"
    kind: str = KIND
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ContainerImageRefreshSpec
    status: ContainerImageRefreshStatus = Field(default_factory=ContainerImageRefreshStatus)
