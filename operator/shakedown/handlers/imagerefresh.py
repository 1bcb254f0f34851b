"""kopf handlers for ContainerImageRefresh.

``reconcile`` runs when an object is created, changed (spec, labels or the
steering annotations) and when the operator resumes. It validates the spec,
and either reports Stalled (InvalidSpec, naming the field) or asks ``decide``
for the state. ``decide`` is the extension point for the refresh-run planner
(``shakedown.planning.imagerefresh``): keep this module to wiring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from shakedown import GROUP, VERSION
from shakedown.api.imagerefresh import (
    PLURAL,
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
)
from shakedown.conditions import Health
from shakedown.handlers.reporting import Verdict, report
from shakedown.planning.validation import validate_image_refresh


def read_status(raw: Mapping[str, Any] | None) -> ContainerImageRefreshStatus:
    """The stored status; an empty one when there is none (or it does not parse)."""
    try:
        return ContainerImageRefreshStatus.model_validate(dict(raw or {}))
    except ValidationError:
        return ContainerImageRefreshStatus()


def decide(spec: ContainerImageRefreshSpec, status: ContainerImageRefreshStatus) -> Verdict:
    """The kstatus state of a valid object (until the run planner takes over)."""
    if spec.suspend:
        return Verdict(
            health=Health.READY,
            reason="Suspended",
            message="spec.suspend is true: no new runs start",
        )
    if status.promoted_digest is None:
        return Verdict(
            health=Health.RECONCILING,
            reason="Accepted",
            message=f"spec is valid; waiting for the first refresh run of {spec.image}:{spec.tag}",
        )
    return Verdict(
        health=Health.READY,
        reason="Promoted",
        message=f"{spec.image}:{spec.tag} is {status.promoted_digest}",
    )


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    model, problems = validate_image_refresh(spec)
    if model is None or problems:
        report(
            body=body,
            patch=patch,
            verdict=Verdict.invalid(problems),
            generation=generation,
            logger=logger,
        )
        return
    status = read_status(body.get("status"))
    report(
        body=body,
        patch=patch,
        verdict=decide(model, status),
        generation=generation,
        logger=logger,
    )
