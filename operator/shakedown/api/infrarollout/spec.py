"""The InfraRollout spec: the parts of the other modules, and the rules that span them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shakedown.api.common import (
    ApiModel,
    Duration,
    cel,
    list_map,
    rule,
)
from shakedown.api.infrarollout.change import Change, ImageFrom, Target
from shakedown.api.infrarollout.meta import MAX_TARGETS
from shakedown.api.infrarollout.proof import Shadow, SmokeTests
from shakedown.api.infrarollout.strategy import Rollback, Strategy

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
    promote: StrictBool = True
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
        listed: set[tuple[str, str]] = set()
        for index, target in enumerate(self.targets):
            if (target.kind, target.name) in listed:
                raise ValueError(
                    f"spec.targets[{index}]: duplicate of another target "
                    f"({target.kind} {target.name})"
                )
            listed.add((target.kind, target.name))
        for index, patch in enumerate(change.patches):
            if (patch.target.kind, patch.target.name) not in listed:
                raise ValueError(
                    f"spec.change.patches[{index}].target: every spec.change.patches[].target "
                    "must be listed in spec.targets"
                )
        return self

    def workload_targets(self) -> list[Target]:
        return [t for t in self.targets if t.kind.is_workload]
