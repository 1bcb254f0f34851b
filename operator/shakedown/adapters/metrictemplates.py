"""MetricTemplates a rollout names: which exist.

A rollout whose metric check names a MetricTemplate that does not exist must
not start a revision (its checks could never run); its driver refuses the spec
(``adapters.infrarollout``), so it waits, Stalled, with a condition naming the
field, and goes on by itself once the template appears (MetricTemplate events
wake the rollouts of their namespace).
"""

from __future__ import annotations

from shakedown.adapters.workloads import Kube


def template_names(kube: Kube, namespace: str) -> frozenset[str]:
    """Names of the MetricTemplates in ``namespace``.

    A listing that fails raises (``ApiError``): a template that could not be seen
    is not a missing one, so the step fails and is retried instead of the spec
    being reported invalid.
    """
    return frozenset(str(t["metadata"]["name"]) for t in kube.list("MetricTemplate", namespace))
