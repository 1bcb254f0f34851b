"""A whole ContainerImageRefresh object, as the API server returns it."""

from __future__ import annotations

from pydantic import Field

from shakedown.api.common import ApiObject
from shakedown.api.imagerefresh.meta import NAMES
from shakedown.api.imagerefresh.spec import ContainerImageRefreshSpec
from shakedown.api.imagerefresh.status import ContainerImageRefreshStatus


class ContainerImageRefresh(ApiObject[ContainerImageRefreshSpec]):
    """A whole ContainerImageRefresh as read from the API server."""

    kind: str = NAMES.kind
    status: ContainerImageRefreshStatus = Field(default_factory=ContainerImageRefreshStatus)
