"""MetricTemplates a rollout names: which exist, and saying so when one is missing.

A rollout whose metric check names a MetricTemplate that does not exist must
not start a revision (its checks could never run); it waits, Stalled, with a
condition naming the field, and goes on by itself once the template appears
(MetricTemplate events wake the rollouts of their namespace).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.workloads import Kube
from shakedown.api.common import Condition
from shakedown.conditions import Health, same_conditions, with_health
from shakedown.planning.validation import INVALID_SPEC, Problem, summarize


def template_names(kube: Kube, namespace: str) -> frozenset[str] | None:
    """Names of the MetricTemplates in ``namespace``; None when they cannot be listed."""
    try:
        return frozenset(str(t["metadata"]["name"]) for t in kube.list("MetricTemplate", namespace))
    except ApiError:
        return None


def report_stalled(kube: Kube, body: Mapping[str, Any], problems: Sequence[Problem]) -> None:
    """Write Stalled (InvalidSpec, the fields named) to the rollout's status, if not there yet."""
    meta = body["metadata"]
    before = []
    for raw in (body.get("status") or {}).get("conditions") or []:
        try:
            before.append(Condition.model_validate(raw))
        except ValueError:
            continue
    after = with_health(
        before,
        Health.STALLED,
        reason=INVALID_SPEC,
        message=summarize(problems),
        generation=meta.get("generation"),
    )
    if same_conditions(before, after):
        return
    kube.merge_patch(
        "InfraRollout",
        str(meta["namespace"]),
        str(meta["name"]),
        {"status": {"conditions": [c.to_api() for c in after]}},
        subresource="status",
    )
