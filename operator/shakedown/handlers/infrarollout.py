"""kopf handlers for InfraRollout.

``reconcile`` runs when an object is created, changed and when the operator
resumes. It validates the spec (reading the workload targets' container names
so an image for a container no target has is named), and either reports
Stalled (InvalidSpec, naming the field) or asks ``decide`` for the state.
``decide`` is the extension point for the rollout planner
(``shakedown.planning.infrarollout``): keep this module to wiring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient, workloads
from shakedown.api.infrarollout import (
    PLURAL,
    InfraRolloutSpec,
    InfraRolloutStatus,
    TargetKind,
)
from shakedown.conditions import Health
from shakedown.handlers.reporting import Verdict, report
from shakedown.planning.validation import check_infra_rollout, parse


def read_status(raw: Mapping[str, Any] | None) -> InfraRolloutStatus:
    """The stored status; an empty one when there is none (or it does not parse)."""
    try:
        return InfraRolloutStatus.model_validate(dict(raw or {}))
    except ValidationError:
        return InfraRolloutStatus()


def target_containers(
    spec: InfraRolloutSpec, namespace: str, logger: kopf.Logger
) -> Mapping[tuple[TargetKind, str], frozenset[str]] | None:
    """Container names of the workload targets that exist; None when none could be read."""
    try:
        found = workloads.container_names(kubeclient.api_client(), namespace, spec.targets)
    except (ApiException, kubeclient.NoCluster) as exc:
        logger.debug("cannot read targets to check container names: %s", exc)
        return None
    return found or None


def decide(spec: InfraRolloutSpec, status: InfraRolloutStatus) -> Verdict:
    """The kstatus state of a valid object (until the rollout planner takes over)."""
    if status.phase.finished:
        health = Health.READY if status.phase.value == "Succeeded" else Health.STALLED
        return Verdict(
            health=health,
            reason=status.phase.value,
            message=status.message or f"revision {status.revision} {status.phase.value}",
        )
    return Verdict(
        health=Health.RECONCILING,
        reason="Accepted",
        message=f"spec is valid; rollout of {len(spec.targets)} target(s) is {status.phase.value}",
    )


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    namespace: str | None,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    model, problems = parse(InfraRolloutSpec, spec)
    if model is not None:
        containers = target_containers(model, namespace or "default", logger)
        problems = check_infra_rollout(model, containers=containers)
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
