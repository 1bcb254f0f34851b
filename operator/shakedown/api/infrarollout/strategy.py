"""How production is shifted to a proven change, and when it is rolled back by itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from shakedown.api.common import (
    ApiModel,
    Duration,
    ObjectName,
    cel,
    exactly_one,
    list_map,
    rule,
)
from shakedown.api.infrarollout.meta import MAX_CHECKS, MAX_STEPS
from shakedown.api.infrarollout.proof import MetricCheck, ProductionJobCheck


class StrategyType(StrEnum):
    REPLACE = "Replace"
    CANARY = "Canary"
    BLUE_GREEN = "BlueGreen"


class CanaryStep(ApiModel):
    """Either shift `weight` percent of replicas to the new version, or pause."""

    model_config, _exactly_one = exactly_one(
        "weight", "pause", "a canary step sets exactly one of weight or pause"
    )

    weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Percent of the workload's replicas running the new version after this step."""
    pause: Duration | None = None
    """Wait this long (or until shakedown.dev/promote is set)."""


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

    model_config = cel(
        rule(
            "!has(self.jobs) || !has(self.metrics) || "
            "self.jobs.all(j, !self.metrics.exists(m, m.name == j.name))",
            "rollback.jobs and rollback.metrics need different names",
            field_path=".jobs",
        )
    )

    automatic: StrictBool = True
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
    jobs: Annotated[
        list[ProductionJobCheck],
        Field(max_length=MAX_CHECKS, json_schema_extra=list_map("name")),
    ] = Field(default_factory=list)
    """Test Jobs run in production, by default in the candidate image, once production runs
    the change: for Canary when the first step's pods are rolled out, for Replace and
    BlueGreen when the shift is done. The shift does not move on, nor the bake end, while
    one runs; a failure rolls back. Only the Jobs of the revisions status.history lists are
    kept: as a revision ends, older ones are deleted with their pods."""

    @model_validator(mode="after")
    def _unique_check_names(self) -> Rollback:
        metrics = {m.name for m in self.metrics}
        for index, job in enumerate(self.jobs):
            if job.name in metrics:
                raise ValueError(
                    f"rollback.jobs[{index}].name: {job.name!r} is also a rollback.metrics name"
                )
        return self
