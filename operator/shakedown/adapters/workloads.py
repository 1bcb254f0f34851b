"""Read what the InfraRollout validation needs from the workload targets.

Only the container names: which containers the targets have, so a spec that
changes the image of a container no target has is reported with its field path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from shakedown.api.infrarollout import Target, TargetKind

_READERS = {
    TargetKind.DEPLOYMENT: "read_namespaced_deployment",
    TargetKind.STATEFUL_SET: "read_namespaced_stateful_set",
    TargetKind.DAEMON_SET: "read_namespaced_daemon_set",
}


def container_names(
    api: client.ApiClient, namespace: str, targets: Iterable[Target]
) -> Mapping[tuple[TargetKind, str], frozenset[str]]:
    """Workload target -> its container names; targets that do not exist are left out."""
    apps = client.AppsV1Api(api)
    found: dict[tuple[TargetKind, str], frozenset[str]] = {}
    for target in targets:
        reader = _READERS.get(target.kind)
        if reader is None:
            continue
        try:
            obj: Any = getattr(apps, reader)(target.name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        pod_spec = obj.spec.template.spec
        names = {c.name for c in pod_spec.containers or []}
        names |= {c.name for c in pod_spec.init_containers or []}
        found[(target.kind, target.name)] = frozenset(names)
    return found
