"""One reconcile pass over one ContainerImageRefresh: observe, plan, store, act.

The kopf handlers in ``handlers.imagerefresh`` only wire: they run
``reconcile_once`` from the resource's daemon and hand it ``post_event``
(kopf stays out of the adapters). Each pass reads the object fresh, observes
(``imagerefresh_observe``), asks the pure planner for the next status and
actions, stores the status first, then carries the actions out. Storing first
is what makes the operator restartable at any point: every action is
idempotent, and the next pass decides again from status and what it observes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from shakedown import GROUP, VERSION, metrics
from shakedown.adapters import kubeclient, notify
from shakedown.adapters.builder import BuilderUnavailable, build_job
from shakedown.adapters.imagerefresh_observe import (
    ROLLBACK_TO,
    RUN_REQUESTED,
    Observer,
    PassFailed,
)
from shakedown.adapters.jobs import owner_reference, test_job
from shakedown.adapters.registry import RegistryError
from shakedown.api.imagerefresh import (
    PLURAL,
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.metrics import imagerefresh as refresh_metrics
from shakedown.planning.imagerefresh import plan
from shakedown.planning.imagerefresh.observed import (
    Action,
    CreateBuildJob,
    CreateTestJob,
    DeleteJob,
    EmitEvent,
    MoveTag,
    RunFinished,
)
from shakedown.planning.validation import validate_image_refresh

__all__ = [
    "MAX_ROUNDS",
    "ROLLBACK_TO",
    "RUN_REQUESTED",
    "Engine",
    "PassFailed",
    "PostEvent",
    "merge_patch",
    "reconcile_once",
]

#: Posts a Kubernetes Event about an object: (object, type, reason, message).
PostEvent = Callable[[Any, str, str, str], None]

#: Plan/act rounds in one pass: enough to go from "trigger" to "Job created".
MAX_ROUNDS = 6

_last_errors: dict[tuple[str, str], str] = {}


def reconcile_once(namespace: str, name: str, logger: Any, *, post_event: PostEvent) -> None:
    """One pass: read the object fresh, observe, plan, store status, act (while it progresses)."""
    api = kubeclient.api_client()
    try:
        body: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as exc:
        if exc.status != 404:
            logger.warning("cannot read %s/%s: %s %s", namespace, name, exc.status, exc.reason)
        return
    if body["metadata"].get("deletionTimestamp"):
        return
    model, problems = validate_image_refresh(body.get("spec"))
    if model is None or problems:
        return  # reconcile reports Stalled with the field named
    engine = Engine(body=body, spec=model, logger=logger, api=api, post_event=post_event)
    try:
        engine.run()
    except PassFailed as exc:
        engine.complain(str(exc))
        return
    except Exception as exc:  # the daemon must outlive any one bad pass
        logger.exception("reconcile pass failed")
        engine.complain(f"reconcile pass failed: {type(exc).__name__}: {exc}")
        return
    _last_errors.pop(engine.key, None)


class Engine:
    """One pass over one resource: plan and act on what the ``Observer`` saw."""

    def __init__(
        self,
        *,
        body: Mapping[str, Any],
        spec: ContainerImageRefreshSpec,
        logger: Any,
        api: client.ApiClient,
        post_event: PostEvent,
    ) -> None:
        self.body = body
        self._event_target: Any = body  # Events need only kind and metadata
        self.spec = spec
        self.logger = logger
        self.post_event = post_event
        meta = body["metadata"]
        self.observer = Observer(meta=meta, spec=spec, logger=logger, api=api)
        self.namespace = self.observer.namespace
        self.name = self.observer.name
        self.key = (self.namespace, self.name)
        self.resource = self.observer.resource
        self.image = self.observer.image
        self.jobs = self.observer.jobs
        self.custom = client.CustomObjectsApi(api)
        self.core = self.observer.core

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        try:
            status = ContainerImageRefreshStatus.model_validate(dict(self.body.get("status") or {}))
        except ValidationError as exc:
            # Starting over would reuse run ids and adopt old Jobs: stop instead.
            raise PassFailed(f"status does not parse, not acting on it: {exc}") from None
        stored = status
        self.report_state(status)
        if status.history:  # also right after a restart, not only when a run promotes
            refresh_metrics.promoted_at(
                namespace=self.namespace,
                name=self.name,
                timestamp=max(h.promoted_at for h in status.history).timestamp(),
            )
        for _ in range(MAX_ROUNDS):
            before = status
            obs = self.observer.observe(status)
            step = plan(self.spec, status, obs, self.resource)
            if step.status != stored:
                self.store(stored, step.status)
                stored = step.status
                self.report_state(stored)
            status = step.status
            for action in step.actions:
                self.act(action, status)
            if not step.progressing and not _phase_changed(before, status):
                return

    def report_state(self, status: ContainerImageRefreshStatus) -> None:
        run = status.current_run or status.last_run
        refresh_metrics.state(
            namespace=self.namespace,
            name=self.name,
            image=self.spec.image,
            tag=self.spec.tag,
            phase=None if run is None else str(run.phase),
        )
        metrics.health_from(
            kind="ContainerImageRefresh",
            namespace=self.namespace,
            name=self.name,
            conditions=status.conditions,
        )

    def store(
        self, before: ContainerImageRefreshStatus, after: ContainerImageRefreshStatus
    ) -> None:
        patch = merge_patch(before.to_api(), after.to_api())
        if not patch:
            return
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, PLURAL, self.name, {"status": patch}
            )
        except ApiException as exc:
            raise PassFailed(f"cannot store status: {exc.status} {exc.reason}") from None

    # ------------------------------------------------------------------ act
    def act(self, action: Action, status: ContainerImageRefreshStatus) -> None:
        try:
            self._act(action, status)
        except ApiException as exc:
            raise PassFailed(
                f"{type(action).__name__}: API error {exc.status} {exc.reason}"
            ) from None
        except (RegistryError, BuilderUnavailable) as exc:
            raise PassFailed(f"{type(action).__name__}: {exc}") from None

    def _act(self, action: Action, status: ContainerImageRefreshStatus) -> None:
        owner = owner_reference(self.body)
        if isinstance(action, EmitEvent):
            self.post_event(self._event_target, action.type, action.reason, _clip(action.message))
            log = self.logger.warning if action.type == "Warning" else self.logger.info
            log("%s: %s", action.reason, action.message)
        elif isinstance(action, CreateBuildJob):
            manifest = build_job(
                spec=self.spec,
                name=action.job_name,
                namespace=self.namespace,
                owner=owner,
                resource=self.name,
                run_id=action.run_id,
                source_revision=action.source_revision,
                candidate_tag=action.candidate_tag,
            )
            if self.jobs.create(manifest):
                self.logger.info("created build Job %s", action.job_name)
        elif isinstance(action, CreateTestJob):
            manifest = test_job(
                spec=self.spec,
                scenario=action.scenario,
                name=action.job_name,
                namespace=self.namespace,
                image=action.image,
                owner=owner,
                resource=self.name,
                run_id=action.run_id,
            )
            if self.jobs.create(manifest):
                self.logger.info("created test Job %s", action.job_name)
        elif isinstance(action, DeleteJob):
            self.jobs.delete(action.job_name)
        elif isinstance(action, MoveTag):
            moved = self.observer.registry(self.image.registry).move_tag(
                self.image.repository, self.spec.tag, action.digest
            )
            if moved:
                refresh_metrics.tag_moved(namespace=self.namespace, name=self.name, why=action.why)
                self.logger.info("moved %s:%s to %s", self.spec.image, self.spec.tag, action.digest)
        elif isinstance(action, RunFinished):
            self._finished(action, status)

    def _finished(self, action: RunFinished, status: ContainerImageRefreshStatus) -> None:
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
        settings = self.spec.notify
        if settings is None or settings.webhook is None or action.notify not in settings.events:
            return
        token = None
        if settings.webhook.secret_ref is not None:
            ref = settings.webhook.secret_ref
            try:
                secret: Any = self.core.read_namespaced_secret(ref.name, self.namespace)
                token = base64.b64decode((secret.data or {})[ref.key]).decode()
            except (ApiException, KeyError) as exc:
                self.complain(
                    f"spec.notify.webhook.secretRef: cannot read {ref.name}/{ref.key}: {exc}"
                )
        document = notify.payload(
            namespace=self.namespace,
            name=self.name,
            image=self.spec.image,
            tag=self.spec.tag,
            result=str(action.notify),
            summary=summary,
        )
        try:
            notify.post(settings.webhook.url, document, token=token)
        except notify.NotifyError as exc:
            self.complain(f"notification not delivered: {exc}")

    def complain(self, message: str) -> None:
        """Log a failed step; post a Warning Event when the message is new."""
        self.logger.warning("%s", message)
        if _last_errors.get(self.key) != message:
            _last_errors[self.key] = message
            self.post_event(self._event_target, "Warning", "ReconcileError", _clip(message))


def _phase_changed(before: ContainerImageRefreshStatus, after: ContainerImageRefreshStatus) -> bool:
    """A run started or moved on: the next round may have work (e.g. resolve inputs)."""
    old, new = before.current_run, after.current_run
    return (old.id, old.phase) != (new.id, new.phase) if old and new else old is not new


def merge_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7396) turning ``before`` into ``after``."""
    patch: dict[str, Any] = {}
    for key in before:
        if key not in after:
            patch[key] = None
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif value != old or key not in before:
            patch[key] = value
    return patch


def _clip(message: str, limit: int = 1000) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
