"""A small in-memory world for driving the InfraRollout planner through whole rollouts.

Not a fake API server: the planner is a pure function, and this is the data it
is fed. Actions are applied to dicts the way the adapters would (workloads
report their rollout complete at once); pods are derived from the workloads,
Ready unless the test says the configuration they run is broken.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from shakedown import checks
from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus, RolloutPhase
from shakedown.planning.infrarollout.actions import (
    AcquireLock,
    Action,
    Apply,
    Delete,
    DeleteNamespace,
    EnsureNamespace,
    ReleaseLock,
    RunCheck,
    StoreSnapshot,
)
from shakedown.planning.infrarollout.locking import lease_name
from shakedown.planning.infrarollout.objects import (
    CONFIG_HASH_ANNOTATION,
    ROLLOUT_LABEL,
    Obj,
    ObjKey,
    content,
    format_time,
    labels_match,
    selector_labels,
)
from shakedown.planning.infrarollout.plan import Decision, Observed, plan
from shakedown.planning.infrarollout.shadow import RolloutIdentity
from shakedown.planning.infrarollout.smoke import CheckOutcome
from shakedown.planning.infrarollout.snapshot import SnapshotContent
from shakedown.planning.infrarollout.steering import snapshot_revision
from shakedown.planning.infrarollout.strategic import StrategicPreview, strategic_patches

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NS = "prod"


def rollout_identity() -> RolloutIdentity:
    return RolloutIdentity("change", NS, "uid-1", 1)


def deployment(name: str = "web", replicas: int = 2) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "reg/web:1",
                            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                        }
                    ]
                },
            },
        },
    }


def configmap(message: str = "v1", name: str = "web-config") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"MESSAGE": message},
    }


def service(name: str = "web") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 8080}], "clusterIP": "10.0.0.7"},
    }


def pod(
    name: str,
    *,
    ready: bool = True,
    since: datetime | None = None,
    started: datetime | None = None,
    created: datetime | None = None,
    restarts: int = 0,
    waiting: str | None = None,
    labels: dict[str, str] | None = None,
) -> Obj:
    created = created or NOW - timedelta(minutes=10)
    started = started or created
    since = since or started
    state: Obj = (
        {"waiting": {"reason": waiting}}
        if waiting
        else {"running": {"startedAt": format_time(started)}}
    )
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels or {},
            "creationTimestamp": format_time(created),
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": format_time(since),
                }
            ],
            "containerStatuses": [{"name": "web", "restartCount": restarts, "state": state}],
        },
    }


def stored(status: InfraRolloutStatus) -> InfraRolloutStatus:
    """``status`` as the next pass reads it back: written as JSON, parsed again.

    The operator keeps nothing between passes but what the API server stores, so
    a planner that leaned on a value JSON cannot carry (a tuple, a naive time, a
    field left out of the wire form) would work here only by accident.
    """
    wire = json.loads(json.dumps(status.to_api()))
    return InfraRolloutStatus.model_validate(wire)


@dataclass
class World:
    spec: InfraRolloutSpec
    now: datetime = NOW
    status: InfraRolloutStatus = field(default_factory=InfraRolloutStatus)
    objects: dict[tuple[str, ObjKey], Obj] = field(default_factory=dict)
    namespaces: dict[str, Obj] = field(default_factory=dict)
    leases: dict[ObjKey, str] = field(default_factory=dict)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, CheckOutcome] = field(default_factory=dict)
    check_results: Callable[[RunCheck], CheckOutcome | None] = lambda _: CheckOutcome(True, "ok")
    broken: Callable[[str, Obj], bool] = lambda _ns, _obj: False
    """Whether pods of this workload (in this namespace) fail their readiness probe."""
    broken_since: dict[tuple[str, str], datetime] = field(default_factory=dict)
    deleting: bool = False
    log: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    pod_started: dict[tuple[str, str], datetime] = field(default_factory=dict)
    strategic_server: Callable[[Obj, Any], StrategicPreview] | None = None
    """Stands in for the API server's dry run of a strategic patch (object, patch)."""

    @classmethod
    def default(cls, spec: dict[str, Any], *, extra: Sequence[Obj] = ()) -> Self:
        base: dict[str, Any] = {
            "targets": [
                {"kind": "Deployment", "name": "web"},
                {"kind": "ConfigMap", "name": "web-config"},
                {"kind": "Service", "name": "web"},
            ],
            "change": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "patch": {"data": {"MESSAGE": "v2"}},
                    }
                ]
            },
            "smokeTests": {"readyFor": "5s"},
            "bake": "1m",
            "rollback": {"notReadyFor": "10s"},
        }
        base.update(spec)
        world = cls(InfraRolloutSpec.model_validate(base))
        for obj in (deployment(), configmap(), service(), *extra):
            world.put(NS, obj)
        return world

    # ---- state
    def put(self, namespace: str, obj: Obj) -> None:
        obj = copy.deepcopy(obj)
        key = ObjKey.of(obj)
        old = self.objects.get((namespace, key))
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace
        generation = 1
        if old is not None:
            generation = old["metadata"]["generation"]
            if content(old).get("spec") != content(obj).get("spec") or (
                old["metadata"].get("annotations") != meta.get("annotations")
            ):
                generation += 1
        meta["generation"] = generation
        if key.kind == "Deployment":
            n = obj["spec"].get("replicas", 1)
            obj["status"] = {
                "observedGeneration": generation,
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
            }
            if old is None or old["spec"]["template"] != obj["spec"]["template"]:
                self.pod_started[(namespace, key.name)] = self.now
        self.objects[(namespace, key)] = obj

    def get(self, key: ObjKey, namespace: str = NS) -> Obj | None:
        return self.objects.get((namespace, key))

    def existing(self, key: ObjKey, namespace: str = NS) -> Obj:
        """The object, which the test expects to be there."""
        obj = self.get(key, namespace)
        assert obj is not None, f"{key.kind}/{key.name} is missing from {namespace}"
        return obj

    def pods(self, namespace: str) -> list[Obj]:
        out = []
        for (ns, key), obj in self.objects.items():
            if ns != namespace or key.kind != "Deployment":
                continue
            labels = obj["spec"]["template"]["metadata"].get("labels", {})
            started = self.pod_started.get((ns, key.name), NOW - timedelta(hours=1))
            broken = self.broken(ns, obj)
            since = started
            if broken:
                since = self.broken_since.setdefault((ns, key.name), self.now)
            for i in range(obj["spec"].get("replicas", 1)):
                out.append(
                    pod(
                        f"{key.name}-{i}",
                        ready=not broken,
                        since=since,
                        started=started,
                        created=started,
                        labels=dict(labels),
                    )
                )
        return out

    # ---- the planner's view
    def observe(self) -> Observed:
        snapshot = None
        revision = snapshot_revision(self.status)
        if revision and f"change-snapshot-{revision}" in self.snapshots:
            data = self.snapshots[f"change-snapshot-{revision}"]
            snapshot = SnapshotContent.from_secret_data(data)
        production = {k: o for (ns, k), o in self.objects.items() if ns == NS}
        shadow_name = self.status.shadow_namespace
        shadow_objects = {k: o for (ns, k), o in self.objects.items() if ns == shadow_name}
        return Observed(
            name="change",
            namespace=NS,
            uid="uid-1",
            generation=1,
            annotations=dict(self.annotations),
            deleting=self.deleting,
            locks={k: self.leases.get(k) for k in [*self._lock_keys()]},
            snapshot=snapshot,
            production={k: production.get(k) for k in {*production, *self._target_keys()}},
            services=[o for k, o in production.items() if k.kind == "Service"],
            pods=self.pods(NS),
            shadow_namespace=self.namespaces.get(shadow_name or ""),
            shadow_objects=shadow_objects,
            shadow_pods=self.pods(shadow_name or ""),
            check_outcomes=dict(self.outcomes),
            strategic_previews=self._previews(snapshot is None),
        )

    def _previews(self, no_snapshot: bool) -> dict[int, StrategicPreview]:
        if self.strategic_server is None or not no_snapshot:
            return {}
        if self.status.phase is not RolloutPhase.SNAPSHOTTING:
            return {}
        previews = {}
        for index, key, patch in strategic_patches(self.spec):
            obj = self.get(key)
            if obj is not None:
                previews[index] = self.strategic_server(copy.deepcopy(obj), patch)
        return previews

    def _target_keys(self) -> list[ObjKey]:
        return [ObjKey(str(t.kind), t.name) for t in self.spec.targets]

    def _lock_keys(self) -> list[ObjKey]:
        keys = self._target_keys()
        bg = self.spec.strategy.blue_green
        if bg is not None and bg.service:
            keys.append(ObjKey("Service", bg.service))
        return keys

    # ---- acting
    def apply(self, action: Action) -> None:
        self.log.append(action)
        if isinstance(action, Apply):
            self.put(action.namespace, action.obj)
        elif isinstance(action, Delete):
            self.objects.pop((action.namespace, action.key), None)
        elif isinstance(action, EnsureNamespace):
            self.namespaces[action.manifest["metadata"]["name"]] = action.manifest
        elif isinstance(action, DeleteNamespace):
            self.namespaces.pop(action.name, None)
            for key in [k for k in self.objects if k[0] == action.name]:
                del self.objects[key]
        elif isinstance(action, StoreSnapshot):
            self.snapshots.setdefault(action.name, action.data)
        elif isinstance(action, AcquireLock):
            self.leases.setdefault(action.key, action.holder)
        elif isinstance(action, ReleaseLock):
            for lock, holder in list(self.leases.items()):
                if lease_name(lock) == action.lease and holder == action.holder:
                    del self.leases[lock]
        elif isinstance(action, RunCheck):
            # The operator runs what the planner asks for from this registry (Ready is
            # never asked: the planner judges it from the pods).
            assert action.type in checks.registry(), f"no check runs {action.type}"
            result = self.check_results(action)
            if result is not None:
                self.outcomes[action.name] = result

    def step(self) -> Decision:
        decision = plan(self.spec, self.status, self.observe(), self.now)
        self.decisions.append(decision)
        self.status = stored(decision.status)
        for action in decision.actions:
            self.apply(action)
        return decision

    def run(self, *, until: set[str], steps: int = 200, tick: float = 1.0) -> InfraRolloutStatus:
        for _ in range(steps):
            decision = self.step()
            if self.status.phase.value in until:
                return self.status
            if not decision.again:
                self.now += timedelta(seconds=tick)
        raise AssertionError(
            f"not in {until} after {steps} steps: {self.status.phase} {self.status.waiting_for}"
        )

    def events(self) -> list[str]:
        return [e.reason for d in self.decisions for e in d.events]

    def applies(self, namespace: str = NS) -> list[str]:
        return [str(a.key) for a in self.log if isinstance(a, Apply) and a.namespace == namespace]

    def copies(self) -> list[ObjKey]:
        return [
            k
            for (ns, k), o in self.objects.items()
            if ns == NS and ROLLOUT_LABEL in (o["metadata"].get("labels") or {})
        ]

    def pods_of(self, obj: Obj, namespace: str = NS) -> list[Obj]:
        selector = selector_labels(obj)
        return [p for p in self.pods(namespace) if labels_match(selector, p["metadata"]["labels"])]


def broken_by_v2(world: World) -> None:
    """Pods running with MESSAGE=v2 (the change) fail readiness, in production only."""

    def broken(namespace: str, obj: Obj) -> bool:
        if namespace != NS:
            return False
        refs = [
            e["configMapRef"]["name"]
            for e in obj["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        ]
        data = [world.get(ObjKey("ConfigMap", r), namespace) for r in refs]
        annotated = CONFIG_HASH_ANNOTATION in (
            obj["spec"]["template"]["metadata"].get("annotations") or {}
        )
        return annotated and any(d and d["data"]["MESSAGE"] == "v2" for d in data)

    world.broken = broken
