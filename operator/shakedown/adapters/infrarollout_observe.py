"""What one InfraRollout step observes: the rollout's targets, snapshot, locks and shadow.

Split from the driver in ``adapters.infrarollout`` so that reading the world
and acting on it can be read apart. It reads only what the phase in flight
needs (pods while shifting or baking, the shadow's objects while shadowing or
smoke testing), and keeps the snapshots it loaded: they never change once written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from shakedown.adapters import shadow as shadow_io
from shakedown.adapters import workloads as io
from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.workloads import Kube
from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus, RolloutPhase
from shakedown.planning.infrarollout.confinement import QUOTA_KINDS
from shakedown.planning.infrarollout.locking import lease_name
from shakedown.planning.infrarollout.objects import (
    ROLE_LABEL,
    ROLLOUT_LABEL,
    WORKLOAD_KINDS,
    Obj,
    ObjKey,
    config_refs,
)
from shakedown.planning.infrarollout.plan import Observed, lock_keys, target_keys
from shakedown.planning.infrarollout.revision import ImageSource
from shakedown.planning.infrarollout.shadow import shadow_namespace_name
from shakedown.planning.infrarollout.smoke import CheckOutcome
from shakedown.planning.infrarollout.snapshot import SnapshotContent, snapshot_name
from shakedown.planning.infrarollout.steering import snapshot_revision
from shakedown.planning.infrarollout.strategic import StrategicPreview, strategic_patches

_SHADOW_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service")
_COPY_KINDS = ("Deployment", "ConfigMap", "Secret")


class RolloutObserver:
    """Observation for one InfraRollout (its loaded snapshots cached for its lifetime)."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        check_outcomes: Callable[[int], Mapping[str, CheckOutcome]],
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.check_outcomes = check_outcomes
        """The outcomes of the smoke checks run for a revision (the driver runs them)."""
        self._snapshots: dict[tuple[str, int], SnapshotContent] = {}

    def observe(
        self,
        body: Obj,
        spec: InfraRolloutSpec,
        status: InfraRolloutStatus,
        deleting: bool,
        now: datetime,
    ) -> Observed:
        """The world as the planner needs it for the phase ``status`` is in.

        The signature is ``adapters.runner.Driver.observe``: the InfraRollout driver
        observes with this method; ``now`` is unused (snapshots and pods carry their times).
        """
        outcomes = self.check_outcomes(status.revision)  # so far, read before the cluster
        kube, ns = self.kube, self.namespace
        meta = body["metadata"]
        phase = status.phase
        in_flight = status.revision > 0 and not phase.finished
        uid = str(meta.get("uid"))
        image_source = None
        if spec.image_from is not None:
            image_source = _image_source(kube, ns, spec.image_from.container_image_refresh)
        # A finished rollout only looks for leftovers (its locks, its shadow) to remove,
        # idempotently: the watch-fed caches answer it (``adapters.watchcache``).
        settled = status.revision > 0 and phase.finished and not deleting
        locks: dict[ObjKey, str | None] = {}
        if phase in (RolloutPhase.PENDING,) or not in_flight or deleting:
            for key in lock_keys(spec):
                locks[key] = io.lease_holder(kube, ns, lease_name(key), cached=settled)
        # With nothing in flight (and not deleting) the planner reads neither the
        # snapshot nor production: a finished rollout's step costs no reads of them.
        needs_production = in_flight or deleting or phase is RolloutPhase.PENDING
        snapshot = None
        if status.revision > 0 and phase is not RolloutPhase.PENDING and needs_production:
            snapshot = self._snapshot(uid, snapshot_revision(status))
        production: dict[ObjKey, Obj | None] = {}
        keys = set(target_keys(spec)) if needs_production else set()
        if snapshot is not None:
            keys |= set(snapshot.objects)
        for key in list(keys):
            obj = kube.get(key.kind, ns, key.name)
            production[key] = obj
            if obj is not None and key.kind in WORKLOAD_KINDS and snapshot is None:
                for ref in config_refs(obj):
                    if ref not in production:
                        production[ref] = kube.get(ref.kind, ns, ref.name)
        if in_flight or deleting:
            for kind in _COPY_KINDS:
                for obj in kube.list(kind, ns, labels=f"{ROLLOUT_LABEL}={self.name},{ROLE_LABEL}"):
                    production[ObjKey.of(obj)] = obj
        services: list[Obj] = []
        previews: dict[int, StrategicPreview] = {}
        if phase is RolloutPhase.SNAPSHOTTING:
            services = kube.list("Service", ns)
            if snapshot is None:
                previews = io.preview_strategic(kube, ns, strategic_patches(spec))
        pods: list[Obj] = []
        if phase in (RolloutPhase.SHIFTING, RolloutPhase.BAKING, RolloutPhase.ROLLING_BACK):
            pods = kube.list("Pod", ns)
        namespace_labels: dict[str, str] = {}
        quotas: list[Obj] = []
        if phase is RolloutPhase.SHADOWING:
            namespace_labels, quotas = shadow_io.confinement_of(kube, ns)
        shadow_name = status.shadow_namespace
        if shadow_name is None and status.revision > 0:
            shadow_name = shadow_namespace_name(ns, self.name, status.revision)
        shadow_ns = (
            shadow_io.get_namespace(kube, shadow_name, cached=settled) if shadow_name else None
        )
        shadow_objects: dict[ObjKey, Obj | None] = {}
        shadow_pods: list[Obj] = []
        shadow_events: list[Obj] = []
        if shadow_ns is not None and phase in (RolloutPhase.SHADOWING, RolloutPhase.SMOKE_TESTING):
            for kind in (*_SHADOW_KINDS, "NetworkPolicy", *QUOTA_KINDS):
                for obj in kube.list(kind, shadow_name):
                    shadow_objects[ObjKey.of(obj)] = obj
            if phase is RolloutPhase.SMOKE_TESTING:
                shadow_pods = kube.list("Pod", shadow_name)
                shadow_events = _pod_events(kube, shadow_name)
        return Observed(
            name=self.name,
            namespace=ns,
            uid=uid,
            generation=int(meta.get("generation") or 0),
            annotations=dict(meta.get("annotations") or {}),
            deleting=deleting,
            image_source=image_source,
            locks=locks,
            snapshot=snapshot,
            production=production,
            services=services,
            pods=pods,
            namespace_labels=namespace_labels,
            quotas=quotas,
            shadow_namespace=shadow_ns,
            shadow_objects=shadow_objects,
            shadow_pods=shadow_pods,
            shadow_events=shadow_events,
            check_outcomes=outcomes,
            strategic_previews=previews,
        )

    def _snapshot(self, uid: str, revision: int) -> SnapshotContent | None:
        key = (uid, revision)
        if key in self._snapshots:
            return self._snapshots[key]
        data = io.load_snapshot(
            self.kube, self.namespace, snapshot_name(self.name, revision), owner_uid=uid
        )
        if data is None:
            return None
        content = SnapshotContent.from_secret_data(data)
        self._snapshots[key] = content  # immutable once written
        return content


def _pod_events(kube: Kube, namespace: str | None) -> list[Obj]:
    """Events about pods (probe failures, pull errors); none when they may not be read."""
    try:
        events = kube.list("Event", namespace)
    except ApiError as exc:
        if exc.status == 403:
            return []
        raise
    return [e for e in events if (e.get("involvedObject") or {}).get("kind") == "Pod"]


def _image_source(kube: Kube, namespace: str, name: str) -> ImageSource:
    refresh = kube.get("ContainerImageRefresh", namespace, name)
    if refresh is None:
        return ImageSource(None, None, "not found")
    repository = (refresh.get("spec") or {}).get("image")
    digest = (refresh.get("status") or {}).get("promotedDigest")
    return ImageSource(repository, digest)
