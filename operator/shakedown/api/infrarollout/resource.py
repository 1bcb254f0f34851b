"""A whole InfraRollout object, as the API server returns it."""

from __future__ import annotations

from pydantic import Field

from shakedown.api.common import ApiObject
from shakedown.api.infrarollout.meta import NAMES
from shakedown.api.infrarollout.spec import InfraRolloutSpec
from shakedown.api.infrarollout.status import InfraRolloutStatus


class InfraRollout(ApiObject[InfraRolloutSpec]):
    """A whole InfraRollout as read from the API server."""

    kind: str = NAMES.kind
    status: InfraRolloutStatus = Field(default_factory=InfraRolloutStatus)
