"""The loop that runs one InfraRollout: observe, plan, record, act, wait for news.

``RolloutRunner.step`` reads everything the planner needs (the rollout, its
snapshot, production objects and pods, the shadow), asks the pure planner for
a decision, writes the decision's status to the status subresource *first*,
posts its Events, and only then carries out its actions (idempotent, see
``planning.infrarollout.actions``). ``run`` repeats that whenever a watch
event concerning the rollout's namespaces arrives (``Wakers``), or when the
planner's clock says so (a NotReady pod crossing ``notReadyFor``). Reactions
come from watch events, so a production pod turning NotReady is acted on as
soon as its event is seen; a slow re-observation every few seconds is only a
safety net for events missed while a watch reconnects.

Smoke checks (HTTP, Job, Metric) run as tasks beside the loop; their outcomes
come back as observations and the planner records them in status. While a
rollout is in SmokeTesting it also follows the pods and Events of its shadow
namespace itself (``NamespaceWatch``: kopf may watch only some
namespaces), so a crash, a pull error or a probe failure there is judged as
soon as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from shakedown import metrics as shared_metrics
from shakedown.adapters import metrictemplates
from shakedown.adapters import shadow as shadow_io
from shakedown.adapters import workloads as io
from shakedown.adapters.watching import NamespaceWatch
from shakedown.adapters.workloads import Kube
from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus, RolloutPhase
from shakedown.checks import CheckContext, registry
from shakedown.metrics import infrarollout as metrics
from shakedown.planning.infrarollout.actions import (
    AcquireLock,
    Action,
    Apply,
    Delete,
    DeleteNamespace,
    EnsureNamespace,
    EventNote,
    ReleaseLock,
    RunCheck,
    StoreSnapshot,
)
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
from shakedown.planning.infrarollout.plan import (
    Decision,
    Observed,
    lock_keys,
    plan,
    target_keys,
)
from shakedown.planning.infrarollout.revision import ImageSource
from shakedown.planning.infrarollout.shadow import shadow_namespace_name
from shakedown.planning.infrarollout.smoke import CheckOutcome
from shakedown.planning.infrarollout.snapshot import SnapshotContent, snapshot_name
from shakedown.planning.infrarollout.steering import snapshot_revision
from shakedown.planning.infrarollout.strategic import StrategicPreview, strategic_patches
from shakedown.planning.validation import (
    check_infra_rollout,
    check_metric_templates,
    template_refs,
)

log = logging.getLogger("shakedown.infrarollout")

#: Never sleep longer than this without re-observing (a safety net, not the trigger).
MAX_SLEEP = 30.0
#: Seconds to wait between recording a decision and acting on it (tests only; 0 = off).
FAULT_PAUSE = float(os.environ.get("SHAKEDOWN_FAULT_PAUSE", "0") or 0)
_SHADOW_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service")
_COPY_KINDS = ("Deployment", "ConfigMap", "Secret")


# --------------------------------------------------------------------------- wake-ups
class Wakers:
    """Who to wake when something changes in a namespace (or to one rollout)."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._by_name: dict[tuple[str, str], asyncio.Event] = {}

    def register(self, namespace: str, name: str) -> asyncio.Event:
        event = self._by_name.setdefault((namespace, name), asyncio.Event())
        self._by_namespace[namespace].add(event)
        return event

    def watch_namespace(self, event: asyncio.Event, namespace: str | None) -> None:
        if namespace:
            self._by_namespace[namespace].add(event)

    def unregister(self, namespace: str, name: str, event: asyncio.Event) -> None:
        if self._by_name.get((namespace, name)) is event:
            del self._by_name[(namespace, name)]
        for events in self._by_namespace.values():
            events.discard(event)

    def wake_namespace(self, namespace: str | None) -> None:
        for event in self._by_namespace.get(namespace or "", ()):
            event.set()

    def wake(self, namespace: str, name: str) -> None:
        event = self._by_name.get((namespace, name))
        if event is not None:
            event.set()


WAKERS = Wakers()


# --------------------------------------------------------------------------- checks
@dataclass
class CheckTasks:
    """Smoke checks running for one rollout, keyed by (revision, check name)."""

    tasks: dict[tuple[int, str], asyncio.Task[CheckOutcome]] = field(default_factory=dict)

    def start(self, action: RunCheck, ctx: CheckContext, on_done: Callable[[], None]) -> None:
        key = (action.revision, action.name)
        if key in self.tasks:
            return
        check = registry()[action.type]

        async def run() -> CheckOutcome:
            try:
                return await check.run(ctx, action.spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a check that crashes is a failed check, said plainly
                log.exception("check %s crashed", action.name)
                return CheckOutcome(False, f"check error: {type(exc).__name__}: {exc}")
            finally:
                on_done()

        self.tasks[key] = asyncio.create_task(run(), name=f"check {action.name} r{action.revision}")

    def outcomes(self, revision: int) -> dict[str, CheckOutcome]:
        out = {}
        for (rev, name), task in self.tasks.items():
            if rev == revision and task.done() and not task.cancelled():
                out[name] = task.result()
        return out

    def cancel_other_than(self, revision: int | None) -> None:
        for key, task in list(self.tasks.items()):
            if key[0] != revision:
                task.cancel()
                del self.tasks[key]


# --------------------------------------------------------------------------- runner
class RolloutRunner:
    """Runs one InfraRollout (one per object, owned by its kopf daemon)."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        post_event: Callable[[Obj, EventNote], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.post_event = post_event
        self.clock = clock
        self.checks = CheckTasks()
        self.lock = asyncio.Lock()
        self.wake_event = WAKERS.register(namespace, name)
        self._snapshots: dict[tuple[str, int], SnapshotContent] = {}
        self._latency_recorded: set[int] = set()
        self._shadow_watch: NamespaceWatch | None = None

    # ---- the loop
    async def run(self, stopped: Callable[[], bool]) -> None:
        self.wake_event = WAKERS.register(self.namespace, self.name)
        try:
            while not stopped():
                self.wake_event.clear()
                try:
                    async with self.lock:
                        decision = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if await self._deleted_meanwhile(exc):
                        log.debug("%s/%s: deleted while stepping", self.namespace, self.name)
                        return
                    log.warning("%s/%s: step failed, retrying: %s", self.namespace, self.name, exc)
                    log.debug("step failure", exc_info=True)
                    await self._sleep(2.0)
                    continue
                if decision is None:
                    await self._sleep(MAX_SLEEP)
                    continue
                if decision.again:
                    continue
                await self._sleep(self._delay(decision))
        finally:
            self.checks.cancel_other_than(None)
            self._follow_shadow(None)
            WAKERS.unregister(self.namespace, self.name, self.wake_event)

    async def _deleted_meanwhile(self, exc: Exception) -> bool:
        """A 404 because this very rollout was deleted mid-step ends the loop quietly.

        Deleting an object is routine, not a failure to retry and log; a 404 for
        anything else (a target, a shadow object) still is one.
        """
        if not isinstance(exc, ApiException) or exc.status != 404:
            return False
        body = await asyncio.to_thread(self.kube.get, "InfraRollout", self.namespace, self.name)
        return body is None

    def _delay(self, decision: Decision) -> float:
        if decision.wake_at is None:
            return MAX_SLEEP
        seconds = (decision.wake_at - self.clock()).total_seconds()
        return min(MAX_SLEEP, max(0.0, seconds))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake_event.wait(), timeout=seconds)

    # ---- one round
    async def step(self, *, deleting: bool | None = None) -> Decision | None:
        body = await asyncio.to_thread(self.kube.get, "InfraRollout", self.namespace, self.name)
        if body is None:
            return None
        try:
            spec = InfraRolloutSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None  # the reconcile handler reports the invalid spec
        status = _read_status(body.get("status"))
        gone = bool(body["metadata"].get("deletionTimestamp")) if deleting is None else deleting
        in_flight = status.revision > 0 and not status.phase.finished
        if check_infra_rollout(spec) and not in_flight and not gone:
            # Likewise reported (Stalled, field named); no new revision starts. A
            # revision in flight goes on: an edit must never switch off its bake.
            return None
        if template_refs(spec) and not in_flight and not gone:
            # A metric check naming a missing MetricTemplate could never run: wait,
            # Stalled, until it appears (its events wake this runner).
            names = await asyncio.to_thread(
                metrictemplates.template_names, self.kube, self.namespace
            )
            missing = check_metric_templates(spec, names or ())
            if missing:
                await asyncio.to_thread(metrictemplates.report_stalled, self.kube, body, missing)
                return None
        observed = await asyncio.to_thread(self._observe, body, spec, status, gone)
        now = self.clock()
        decision = plan(spec, status, observed, now)
        running = decision.status.revision if not decision.status.phase.finished else None
        self.checks.cancel_other_than(running)
        smoke = decision.status.phase is RolloutPhase.SMOKE_TESTING and not gone
        self._follow_shadow(decision.status.shadow_namespace if smoke else None)
        await self._record(body, status, decision, now)
        if not gone:  # a deleted rollout's series are dropped by its delete handler
            metrics.state(
                namespace=self.namespace,
                name=self.name,
                phase=decision.status.phase.value,
                strategy=spec.strategy.type.value,
            )
            shared_metrics.health_from(
                kind="InfraRollout",
                namespace=self.namespace,
                name=self.name,
                conditions=decision.status.conditions,
            )
        if decision.actions and FAULT_PAUSE > 0:
            # Fault injection for the crash tests: widen the window between
            # "status recorded" and "acted", where a crash hurts most.
            await asyncio.sleep(FAULT_PAUSE)
        await self._act(decision, observed, spec)
        return decision

    def _follow_shadow(self, namespace: str | None) -> None:
        """Watch ``namespace`` (None: nothing) for pod changes and Events, waking this runner."""
        current = self._shadow_watch
        if current is not None and current.namespace == namespace:
            return
        if current is not None:
            current.stop()
            self._shadow_watch = None
        if namespace is None:
            return
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: self.wake_event.set())

        self._shadow_watch = NamespaceWatch(self.kube.api, namespace, wake)
        self._shadow_watch.start()

    # ---- observe
    def _observe(
        self, body: Obj, spec: InfraRolloutSpec, status: InfraRolloutStatus, deleting: bool
    ) -> Observed:
        kube, ns = self.kube, self.namespace
        meta = body["metadata"]
        phase = status.phase
        in_flight = status.revision > 0 and not phase.finished
        uid = str(meta.get("uid"))
        image_source = None
        if spec.image_from is not None:
            image_source = _image_source(kube, ns, spec.image_from.container_image_refresh)
        locks: dict[ObjKey, str | None] = {}
        if phase in (RolloutPhase.PENDING,) or not in_flight or deleting:
            for key in lock_keys(spec):
                locks[key] = io.lease_holder(kube, ns, lease_name(key))
        snapshot = None
        if status.revision > 0 and phase is not RolloutPhase.PENDING:
            snapshot = self._snapshot(uid, snapshot_revision(status))
        production: dict[ObjKey, Obj | None] = {}
        keys = set(target_keys(spec))
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
        shadow_ns = shadow_io.get_namespace(kube, shadow_name) if shadow_name else None
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
            check_outcomes=self.checks.outcomes(status.revision),
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

    # ---- record
    async def _record(
        self, body: Obj, before: InfraRolloutStatus, decision: Decision, now: datetime
    ) -> None:
        old = before.to_api()
        new = decision.status.to_api()
        if old != new:
            patch: dict[str, Any] = {key: None for key in old if key not in new}
            patch.update(new)
            await asyncio.to_thread(
                self.kube.merge_patch,
                "InfraRollout",
                self.namespace,
                self.name,
                {"status": patch},
                subresource="status",
            )
        after = decision.status
        who = {"namespace": self.namespace, "name": self.name}
        if after.phase is not before.phase and before.phase_started_at is not None:
            metrics.phase_finished(
                **who,
                phase=before.phase.value,
                seconds=(now - before.phase_started_at).total_seconds(),
            )
            if after.phase.finished and after.revision == before.revision:
                metrics.revision_ended(**who, result=after.phase.value)
            if after.phase is RolloutPhase.ROLLING_BACK:
                reason = (after.rollback_reason or "Unknown").split(":", 1)[0]
                metrics.rollback_started(**who, reason=reason)
        for note in decision.events:
            # The operator's INFO log says what it decided for which object.
            (log.warning if note.type == "Warning" else log.info)(
                "%s/%s: %s: %s", self.namespace, self.name, note.reason, note.message
            )
            if self.post_event is not None:
                try:
                    self.post_event(body, note)
                except Exception as exc:  # Events are best effort
                    log.debug("event not posted: %s", exc)

    # ---- act
    async def _act(self, decision: Decision, observed: Observed, spec: InfraRolloutSpec) -> None:
        restored = False
        for action in decision.actions:
            if isinstance(action, RunCheck):
                self._start_check(action, observed, spec)
                continue
            await asyncio.to_thread(self._do, action)
            if isinstance(action, Apply | Delete):
                log.info(
                    "%s/%s: %s %s%s",
                    self.namespace,
                    self.name,
                    "applied" if isinstance(action, Apply) else "deleted",
                    action.key,
                    f" ({action.why})" if action.why else "",
                )
            if decision.status.phase is RolloutPhase.ROLLING_BACK and isinstance(
                action, Apply | Delete
            ):
                restored = True
        observed_at = decision.status.failure_observed_at
        revision = decision.status.revision
        if restored and observed_at is not None and revision not in self._latency_recorded:
            # Once per revision, also when a restarted operator does the restore.
            self._latency_recorded.add(revision)
            latency = (self.clock() - observed_at).total_seconds()
            metrics.rollback_applied(namespace=self.namespace, name=self.name, seconds=latency)
            log.info(
                "%s/%s: rollback applied %.3fs after failure", self.namespace, self.name, latency
            )

    def _do(self, action: Action) -> None:
        kube, ns = self.kube, self.namespace
        if isinstance(action, Apply):
            io.apply_object(kube, action.namespace, action.obj)
        elif isinstance(action, Delete):
            kube.delete(action.key.kind, action.namespace, action.key.name)
        elif isinstance(action, EnsureNamespace):
            shadow_io.ensure_namespace(kube, action.manifest)
            WAKERS.watch_namespace(self.wake_event, action.manifest["metadata"]["name"])
        elif isinstance(action, DeleteNamespace):
            shadow_io.delete_namespace(kube, action.name)
        elif isinstance(action, StoreSnapshot):
            io.store_snapshot(
                kube,
                ns,
                name=action.name,
                data=action.data,
                labels=action.labels,
                owner=action.owner,
            )
        elif isinstance(action, AcquireLock):
            io.acquire_lease(
                kube,
                ns,
                lease=action.lease,
                holder=action.holder,
                owner=action.owner,
                about=str(action.key),
            )
        elif isinstance(action, ReleaseLock):
            io.release_lease(kube, ns, lease=action.lease, holder=action.holder)
            WAKERS.wake_namespace(ns)

    def _start_check(self, action: RunCheck, observed: Observed, spec: InfraRolloutSpec) -> None:
        WAKERS.watch_namespace(self.wake_event, action.namespace)
        ctx = CheckContext(
            kube=self.kube,
            namespace=action.namespace,
            rollout=self.name,
            revision=action.revision,
            labels=observed.who(action.revision).labels(),
            image=action.image,
            home_namespace=self.namespace,
            field=action.field,
        )
        self.checks.start(action, ctx, self.wake_event.set)


def _pod_events(kube: Kube, namespace: str | None) -> list[Obj]:
    """Events about pods (probe failures, pull errors); none when they may not be read."""
    try:
        events = kube.list("Event", namespace)
    except ApiException as exc:
        if exc.status == 403:
            return []
        raise
    return [e for e in events if (e.get("involvedObject") or {}).get("kind") == "Pod"]


def _read_status(raw: Mapping[str, Any] | None) -> InfraRolloutStatus:
    try:
        return InfraRolloutStatus.model_validate(dict(raw or {}))
    except ValidationError:
        return InfraRolloutStatus()


def _image_source(kube: Kube, namespace: str, name: str) -> ImageSource:
    refresh = kube.get("ContainerImageRefresh", namespace, name)
    if refresh is None:
        return ImageSource(None, None, "not found")
    repository = (refresh.get("spec") or {}).get("image")
    digest = (refresh.get("status") or {}).get("promotedDigest")
    return ImageSource(repository, digest)
