"""What the one runner (``adapters.runner``) needs to drive an InfraRollout.

``InfraRolloutDriver`` reads everything the planner needs (the rollout, its
snapshot, production objects and pods, the shadow), hands it to the pure
planner, and carries out the decision's actions (idempotent, see
``planning.infrarollout.actions``) once the runner has stored the status.
Reactions come from watch events (the rollout follows its namespace, so a
production pod turning NotReady is acted on as soon as its event is seen); a
slow re-observation every ``MAX_SLEEP`` seconds is only a safety net for
events missed while a watch reconnects.

Smoke checks (HTTP, Job, Metric) run as tasks beside the loop; their outcomes
come back as observations and the planner records them in status. While a
rollout is in SmokeTesting it also follows the pods and Events of its shadow
namespace itself (``NamespaceWatch``: kopf may watch only some
namespaces), so a crash, a pull error or a probe failure there is judged as
soon as it happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shakedown import metrics as shared_metrics
from shakedown.adapters import metrictemplates
from shakedown.adapters import shadow as shadow_io
from shakedown.adapters import workloads as io
from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.infrarollout_observe import RolloutObserver
from shakedown.adapters.object_driver import EventPoster, ObjectDriver
from shakedown.adapters.wakeups import Key, Wakers
from shakedown.adapters.watching import NamespaceWatch
from shakedown.adapters.workloads import Kube
from shakedown.api.infrarollout import (
    NAMES,
    InfraRolloutSpec,
    InfraRolloutStatus,
    RolloutPhase,
    TargetKind,
)
from shakedown.checks import CheckContext, registry
from shakedown.metrics import infrarollout as metrics
from shakedown.planning.infrarollout.actions import (
    AcquireLock,
    Action,
    Apply,
    Delete,
    DeleteNamespace,
    EnsureNamespace,
    PruneJobs,
    ReleaseLock,
    RunCheck,
    StoreSnapshot,
)
from shakedown.planning.infrarollout.objects import (
    Obj,
)
from shakedown.planning.infrarollout.plan import Decision, Observed
from shakedown.planning.infrarollout.plan import plan as plan_rollout
from shakedown.planning.infrarollout.smoke import CheckOutcome
from shakedown.planning.refusal import Refused
from shakedown.planning.validation import (
    check_image_containers,
    check_infra_rollout,
    check_metric_templates,
    parse,
    template_refs,
)

log = logging.getLogger("shakedown.infrarollout")

#: Never sleep longer than this without re-observing (a safety net, not the trigger).
MAX_SLEEP = 30.0
_SHADOW_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service")
_COPY_KINDS = ("Deployment", "ConfigMap", "Secret")


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


# --------------------------------------------------------------------------- the driver
class InfraRolloutDriver(ObjectDriver):
    """Reads, observes, plans and acts for one InfraRollout (see ``adapters.runner.Driver``)."""

    kind = NAMES.kind
    log = log
    tick = MAX_SLEEP
    retry = 2.0
    max_rounds: int | None = None  # every transition's actions follow at once
    follows_namespace = True  # production pods, workloads, Leases, Jobs of its namespace

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        wakers: Wakers,
        *,
        post_event: EventPoster | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(kube, namespace, name, post_event=post_event, clock=clock)
        self.wakers = wakers
        self.key: Key = (self.kind, namespace, name)
        self.checks = CheckTasks()
        # Reading the world is RolloutObserver's (adapters.infrarollout_observe): the
        # runner calls its observe as this driver's, with the check outcomes it collects.
        self.observe = RolloutObserver(kube, namespace, name, self.checks.outcomes).observe
        self._latency_recorded: set[int] = set()
        self._shadow_watch: NamespaceWatch | None = None

    def parse_status(self, raw: Mapping[str, Any]) -> InfraRolloutStatus:
        return InfraRolloutStatus.model_validate(dict(raw))

    def admit(
        self, body: Obj, status: InfraRolloutStatus, deleting: bool
    ) -> InfraRolloutSpec | Refused:
        """The spec, unless it cannot start a revision: then ``Refused``, the fields named.

        A revision in flight (or a deletion) goes on with any spec that parses: an
        edit must never switch off its bake. Otherwise the spec is also checked
        against what it names in the namespace: its targets' containers (only
        when it changes an image: a thousand reads at a start otherwise) and its
        MetricTemplates, whose news wakes a refusal that waits on them.
        """
        spec, problems = parse(InfraRolloutSpec, body.get("spec"))
        if spec is None:
            return Refused(problems=problems)
        if deleting or (status.revision > 0 and not status.phase.finished):
            return spec
        # Only the containers' problems can clear without an edit (a target that gains one).
        unknown = check_image_containers(spec, self._target_containers(spec))
        problems = check_infra_rollout(spec) + tuple(unknown)
        waits = bool(unknown)
        if template_refs(spec):
            names = metrictemplates.template_names(self.kube, self.namespace)
            missing = check_metric_templates(spec, names)
            problems += missing
            waits = waits or bool(missing)
        return Refused(problems=problems, waits_on_namespace=waits) if problems else spec

    def _target_containers(
        self, spec: InfraRolloutSpec
    ) -> Mapping[tuple[TargetKind, str], frozenset[str]] | None:
        """Container names of the workload targets that exist; None when none could be read,
        or need be: only a spec that changes a container's image is checked against them."""
        if not spec.change.images and spec.image_from is None:
            return None
        try:
            found = io.container_names(self.kube, self.namespace, spec.targets)
        except ApiError as exc:
            log.debug("cannot read targets to check container names: %s", exc)
            return None
        return found or None

    plan = staticmethod(plan_rollout)

    def close(self) -> None:
        self.checks.cancel_other_than(None)
        self._follow_shadow(None)

    def _wake(self) -> None:
        self.wakers.wake(self.key)

    def _follow_shadow(self, namespace: str | None) -> None:
        """Watch ``namespace`` (None: nothing) for pod changes and Events, waking this rollout."""
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
            loop.call_soon_threadsafe(self._wake)

        self._shadow_watch = NamespaceWatch(self.kube.conn, namespace, wake)
        self._shadow_watch.start()

    # ---- once the status is recorded
    def recorded(
        self,
        spec: InfraRolloutSpec,
        before: InfraRolloutStatus,
        decision: Decision,
        now: datetime,
        deleting: bool,
    ) -> None:
        after = decision.status
        running = after.revision if not after.phase.finished else None
        self.checks.cancel_other_than(running)
        smoke = after.phase is RolloutPhase.SMOKE_TESTING and not deleting
        self._follow_shadow(after.shadow_namespace if smoke else None)
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
        if not deleting:  # a deleted rollout's series are dropped by its delete handler
            metrics.state(**who, phase=after.phase.value, strategy=spec.strategy.type.value)
            shared_metrics.health_from(kind=NAMES.kind, **who, conditions=after.conditions)

    # ---- act
    async def act(
        self,
        body: Obj,
        spec: InfraRolloutSpec,
        observed: Observed,
        decision: Decision,
        complain: Callable[[str], None],
    ) -> None:
        restored = False
        for action in decision.actions:
            if isinstance(action, RunCheck):
                self._start_check(action, observed, spec)
                continue
            if isinstance(action, PruneJobs):
                await self._prune(action)
                continue
            await asyncio.to_thread(self._do, action)
            # Wake-ups are the event loop's: changed here, never from the worker thread.
            if isinstance(action, EnsureNamespace):
                self.wakers.follow(self.key, action.manifest["metadata"]["name"])
            elif isinstance(action, ReleaseLock):
                self.wakers.wake_namespace(self.namespace)  # a rollout waiting for it goes on
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
        elif isinstance(action, DeleteNamespace):
            shadow_io.delete_namespace(kube, action.name)
        elif isinstance(action, StoreSnapshot):
            io.store_snapshot(kube, ns, action)
        elif isinstance(action, AcquireLock):
            io.acquire_lease(kube, ns, action)
        elif isinstance(action, ReleaseLock):
            io.release_lease(kube, ns, action)

    async def _prune(self, action: PruneJobs) -> None:
        """Housekeeping after the revision ended: a failure is logged, not a failed step
        (the revision's own work is done; the next revision's end prunes again)."""
        try:
            deleted = await asyncio.to_thread(io.prune_jobs, self.kube, action)
        except ApiError as exc:
            log.warning("%s/%s: cannot prune old check Jobs: %s", self.namespace, self.name, exc)
            return
        if deleted:
            log.info(
                "%s/%s: deleted check Jobs of revisions no longer in the history: %s",
                self.namespace,
                self.name,
                ", ".join(deleted),
            )

    def _start_check(self, action: RunCheck, observed: Observed, spec: InfraRolloutSpec) -> None:
        self.wakers.follow(self.key, action.namespace)
        ctx = CheckContext(
            kube=self.kube,
            namespace=action.namespace,
            rollout=self.name,
            revision=action.revision,
            labels=observed.who(action.revision).labels(),
            image=action.image,
            home_namespace=self.namespace,
            field=action.field,
            job_news=self.kube.job_news,
        )
        self.checks.start(action, ctx, self._wake)
