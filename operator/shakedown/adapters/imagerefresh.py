"""What the one runner (``adapters.runner``) needs to drive a ContainerImageRefresh.

``ImageRefreshDriver`` reads the resource, observes (``imagerefresh_observe``:
its Jobs, the source, the registry), hands that to the pure planner and,
once the runner has stored the status, carries the actions out: creates and
deletes Jobs, moves tags in the registry, counts finished runs and sends the
notifications. Every action is idempotent, so the next step may repeat any of
them after a crash. A step runs on every wake-up (the resource's own events,
its Jobs' and pods') and at least every ``TICK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shakedown import conditions, metrics
from shakedown.adapters import notify
from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.builder import BuilderUnavailable, build_job
from shakedown.adapters.imagerefresh_observe import Observer, PassFailed
from shakedown.adapters.jobs import owner_reference, test_job
from shakedown.adapters.object_driver import EventPoster, ObjectDriver
from shakedown.adapters.registry import RegistryError
from shakedown.adapters.workloads import Kube
from shakedown.api.imagerefresh import (
    NAMES,
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.metrics import imagerefresh as refresh_metrics
from shakedown.planning.imagerefresh import Decision
from shakedown.planning.imagerefresh import plan as plan_refresh
from shakedown.planning.imagerefresh.observed import (
    CreateBuildJob,
    CreateTestJob,
    DeleteJob,
    Effect,
    MoveTag,
    Observation,
    RunFinished,
)
from shakedown.planning.refusal import Refused
from shakedown.planning.validation import validate_image_refresh

__all__ = ["MAX_ROUNDS", "TICK_SECONDS", "ImageRefreshDriver"]

#: Steps in a row that may plan again at once: enough to go from "trigger" to "Job created".
MAX_ROUNDS = 6
#: Seconds between steps without any wake-up (Job and resource events wake it at
#: once; this bounds schedule and poll latency).
TICK_SECONDS = 5.0

log = logging.getLogger("shakedown.imagerefresh")


class ImageRefreshDriver(ObjectDriver):
    """Reads, observes, plans and acts for one resource (see ``adapters.runner.Driver``)."""

    kind = NAMES.kind
    log = log
    tick = TICK_SECONDS
    retry = TICK_SECONDS
    max_rounds: int | None = MAX_ROUNDS
    follows_namespace = False  # only its own Jobs and pods wake it

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        *,
        post_event: EventPoster | None = None,
        clock: Callable[[], datetime] = conditions.now,
    ) -> None:
        super().__init__(kube, namespace, name, post_event=post_event, clock=clock)
        self._observer: Observer | None = None
        """The last step's observer: acting borrows its registry clients."""

    def parse_status(self, raw: Mapping[str, Any]) -> ContainerImageRefreshStatus:
        return ContainerImageRefreshStatus.model_validate(dict(raw))

    def admit(
        self, body: dict[str, Any], status: ContainerImageRefreshStatus, deleting: bool
    ) -> ContainerImageRefreshSpec | Refused | None:
        if deleting:
            return None  # nothing to finish: its Jobs go with it (owner references)
        model, problems = validate_image_refresh(body.get("spec"))
        if model is None or problems:
            return Refused(problems=problems)  # the runner reports it, fields named
        return model

    def observe(
        self,
        body: dict[str, Any],
        spec: ContainerImageRefreshSpec,
        status: ContainerImageRefreshStatus,
        deleting: bool,
        now: datetime,
    ) -> Observation:
        caches = self.kube.caches
        self._observer = Observer(
            meta=body["metadata"],
            spec=spec,
            logger=log,
            conn=self.kube.conn,
            jobs_seen=caches.jobs if caches is not None else None,
        )
        return self._observer.observe(status, now)

    plan = staticmethod(plan_refresh)

    def recorded(
        self,
        spec: ContainerImageRefreshSpec,
        before: ContainerImageRefreshStatus,
        decision: Decision,
        now: datetime,
        deleting: bool,
    ) -> None:
        status = decision.status
        run = status.current_run or status.last_run
        who = {"namespace": self.namespace, "name": self.name}
        refresh_metrics.state(
            **who, image=spec.image, tag=spec.tag, phase=None if run is None else str(run.phase)
        )
        metrics.health_from(kind=NAMES.kind, **who, conditions=status.conditions)
        if status.history:  # also right after a restart, not only when a run promotes
            promoted = max(h.promoted_at for h in status.history).timestamp()
            refresh_metrics.promoted_at(**who, timestamp=promoted)

    def close(self) -> None:
        self._observer = None

    # ------------------------------------------------------------------ act
    async def act(
        self,
        body: dict[str, Any],
        spec: ContainerImageRefreshSpec,
        observed: Observation,
        decision: Decision,
        complain: Callable[[str], None],
    ) -> None:
        try:
            for action in decision.actions:
                try:
                    await asyncio.to_thread(self._do, body, spec, action, complain)
                except ApiError as exc:
                    raise PassFailed(
                        f"{type(action).__name__}: API error {exc.status} {exc.reason}"
                    ) from None
                except (RegistryError, BuilderUnavailable) as exc:
                    raise PassFailed(f"{type(action).__name__}: {exc}") from None
        finally:
            self._observer = None  # the step's: a sleeping refresh keeps no observation

    def _do(
        self,
        body: Mapping[str, Any],
        spec: ContainerImageRefreshSpec,
        action: Effect,
        complain: Callable[[str], None],
    ) -> None:
        observer = self._observer
        assert observer is not None, "act follows observe"
        where = f"{self.namespace}/{self.name}"
        owner = owner_reference(body)
        if isinstance(action, CreateBuildJob):
            manifest = build_job(
                spec=spec,
                name=action.job_name,
                namespace=self.namespace,
                owner=owner,
                resource=self.name,
                run_id=action.run_id,
                source_revision=action.source_revision,
                candidate_tag=action.candidate_tag,
            )
            if observer.jobs.create(manifest):
                log.info("%s: created build Job %s", where, action.job_name)
        elif isinstance(action, CreateTestJob):
            manifest = test_job(
                spec=spec,
                scenario=action.scenario,
                name=action.job_name,
                namespace=self.namespace,
                image=action.image,
                owner=owner,
                resource=self.name,
                run_id=action.run_id,
            )
            if observer.jobs.create(manifest):
                log.info("%s: created test Job %s", where, action.job_name)
        elif isinstance(action, DeleteJob):
            observer.jobs.delete(action.job_name)
        elif isinstance(action, MoveTag):
            image = observer.image
            moved = observer.registry(image.registry).move_tag(
                image.repository, spec.tag, action.digest
            )
            if moved:
                refresh_metrics.tag_moved(namespace=self.namespace, name=self.name, why=action.why)
                log.info("%s: moved %s:%s to %s", where, spec.image, spec.tag, action.digest)
        elif isinstance(action, RunFinished):
            self._finished(spec, action, observer, complain)

    def _finished(
        self,
        spec: ContainerImageRefreshSpec,
        action: RunFinished,
        observer: Observer,
        complain: Callable[[str], None],
    ) -> None:
        summary = action.summary
        promoted_at = None
        if summary.phase == RunPhase.SUCCEEDED and summary.finished_at is not None:
            promoted_at = summary.finished_at.timestamp()
        refresh_metrics.run_finished(
            namespace=self.namespace,
            name=self.name,
            trigger=str(summary.trigger),
            result=str(summary.phase),
            phase_seconds=action.phase_seconds,
            promoted_at=promoted_at,
        )
        settings = spec.notify
        if settings is None or settings.webhook is None or action.notify not in settings.events:
            return
        token = None
        if settings.webhook.secret_ref is not None:
            ref = settings.webhook.secret_ref
            try:
                secret = observer.read("secrets", ref.name)
                token = base64.b64decode((secret.get("data") or {})[ref.key]).decode()
            except (ApiError, KeyError) as exc:
                complain(f"spec.notify.webhook.secretRef: cannot read {ref.name}/{ref.key}: {exc}")
        document = notify.payload(
            namespace=self.namespace,
            name=self.name,
            image=spec.image,
            tag=spec.tag,
            result=str(action.notify),
            summary=summary,
        )
        try:
            notify.post(settings.webhook.url, document, token=token)
        except notify.NotifyError as exc:
            complain(f"notification not delivered: {exc}")
