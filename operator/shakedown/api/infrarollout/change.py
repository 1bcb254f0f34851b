"""What an InfraRollout changes: its targets, and the images, patches and manifests for them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from shakedown.api.common import (
    ApiModel,
    DnsLabel,
    ImageReference,
    ObjectName,
    list_map,
)
from shakedown.api.infrarollout.meta import MAX_TARGETS


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
    """merge (RFC 7396), json (RFC 6902) or strategic (Kubernetes strategic merge, computed
    by the API server in a dry run against the existing target when the snapshot is taken,
    so the target must exist and not be replaced by spec.change.manifests)."""
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
