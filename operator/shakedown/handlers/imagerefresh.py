"""kopf handlers for ContainerImageRefresh.

``reconcile`` (create, update, resume) only validates: an invalid spec is
reported Stalled with the field named. Everything else happens in the
``refresh`` daemon (one per resource, a pass on every wake-up and at least
every ``TICK_SECONDS``): observe (the resource's Jobs, the registry, the
source), ask the pure planner (``shakedown.planning.imagerefresh``) for the
next status and actions, store the status, then carry the actions out through
the adapters. Storing first is what makes the
operator restartable at any point: every action is idempotent, and the next
pass decides again from status and what it observes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from shakedown import GROUP, VERSION, conditions, metrics
from shakedown.adapters import kubeclient, notify
from shakedown.adapters.builder import BuilderUnavailable, build_job
from shakedown.adapters.gitsource import SourceError, configmap_revision, resolve_git_revision
from shakedown.adapters.jobs import LABEL_RESOURCE, Jobs, owner_reference, test_job
from shakedown.adapters.registry import (
    ImageRef,
    RegistryClient,
    RegistryError,
    credentials_from_dockerconfig,
)
from shakedown.api.imagerefresh import (
    PLURAL,
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.handlers.reporting import Verdict, report
from shakedown.metrics import imagerefresh as refresh_metrics
from shakedown.planning.imagerefresh import Resource, history, plan, run, triggers
from shakedown.planning.imagerefresh.observed import (
    Action,
    CreateBuildJob,
    CreateTestJob,
    DeleteJob,
    EmitEvent,
    JobObservation,
    MoveTag,
    Observation,
    RunFinished,
)
from shakedown.planning.validation import validate_image_refresh


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    model, problems = validate_image_refresh(spec)
    if model is None or problems:
        report(
            body=body,
            patch=patch,
            verdict=Verdict.invalid(problems),
            generation=generation,
            logger=logger,
        )
        return
    # A valid spec: the refresh daemon owns status (conditions, observedGeneration).


# --------------------------------------------------------------------------- refresh runs
#: Seconds between reconcile passes of each resource without any wake-up (Job and
#: resource events wake it at once; this bounds schedule and poll latency).
TICK_SECONDS = 5.0
#: Plan/act rounds in one pass: enough to go from "trigger" to "Job created".
MAX_ROUNDS = 6
RUN_REQUESTED = f"{GROUP}/run-requested"
ROLLBACK_TO = f"{GROUP}/rollback-to"

_last_errors: dict[tuple[str, str], str] = {}
#: Wake-up events of the running daemons, by (namespace, name).
_WAKE: dict[tuple[str, str], asyncio.Event] = {}


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def refresh(
    name: str,
    namespace: str | None,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Reconcile passes for one resource: on every wake-up, at least every TICK_SECONDS."""
    key = (namespace or "default", name)
    wake = _WAKE.setdefault(key, asyncio.Event())
    while not stopped:
        wake.clear()
        await asyncio.to_thread(reconcile_once, key[0], name, logger)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), TICK_SECONDS)
    _WAKE.pop(key, None)


def reconcile_once(namespace: str, name: str, logger: kopf.Logger | Any) -> None:
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
    engine = _Engine(body=body, spec=model, logger=logger, api=api)
    try:
        engine.run()
    except _PassFailed as exc:
        engine.complain(str(exc))
        return
    except Exception as exc:  # the daemon must outlive any one bad pass
        logger.exception("reconcile pass failed")
        engine.complain(f"reconcile pass failed: {type(exc).__name__}: {exc}")
        return
    _last_errors.pop(engine.key, None)


# Wake-ups run in the event loop (async), where the daemons' asyncio.Events live.
async def _wake_from_job(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    owner = labels.get(LABEL_RESOURCE)
    event = _WAKE.get((namespace or "default", owner or ""))
    if event is not None:
        event.set()


kopf.on.event("batch", "v1", "jobs", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-jobs")(
    _wake_from_job
)
kopf.on.event("", "v1", "pods", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-pods")(
    _wake_from_job
)


@kopf.on.event(GROUP, VERSION, PLURAL, id="wake-cir")
async def _wake_from_self(name: str | None, namespace: str | None, **_: Any) -> None:
    event = _WAKE.get((namespace or "default", name or ""))
    if event is not None:
        event.set()


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(meta: kopf.Meta, **_: Any) -> None:
    refresh_metrics.forget(namespace=str(meta.get("namespace")), name=str(meta.get("name")))


class _PassFailed(Exception):
    """An I/O step failed; the pass stops and the next one retries from status."""


class _Engine:
    """Observation and action for one pass over one resource."""

    def __init__(
        self,
        *,
        body: Mapping[str, Any],
        spec: ContainerImageRefreshSpec,
        logger: kopf.Logger | Any,
        api: client.ApiClient,
    ) -> None:
        self.body = body
        self._event_target: Any = body  # kopf.event takes any object with kind/metadata
        self.spec = spec
        self.logger = logger
        meta = body["metadata"]
        self.namespace = str(meta["namespace"])
        self.name = str(meta["name"])
        self.key = (self.namespace, self.name)
        self.generation = int(meta.get("generation") or 0)
        self.annotations: Mapping[str, str] = meta.get("annotations") or {}
        self.resource = Resource(namespace=self.namespace, name=self.name)
        self.api = api
        self.jobs = Jobs(self.api, self.namespace)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.image = ImageRef.parse(spec.image + ":" + spec.tag)
        self._clients: dict[str, RegistryClient] = {}
        self._dockerconfig: bytes | None = None
        self._dockerconfig_read = False

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        try:
            status = ContainerImageRefreshStatus.model_validate(dict(self.body.get("status") or {}))
        except ValidationError as exc:
            # Starting over would reuse run ids and adopt old Jobs: stop instead.
            raise _PassFailed(f"status does not parse, not acting on it: {exc}") from None
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
            obs = self.observe(status)
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
            raise _PassFailed(f"cannot store status: {exc.status} {exc.reason}") from None

    # ------------------------------------------------------------------ observe
    def observe(self, status: ContainerImageRefreshStatus) -> Observation:
        now = conditions.now()
        try:
            jobs = self.jobs.observe(
                self.name, run.logs_wanted(self.spec, status, self.resource, now)
            )
        except ApiException as exc:
            raise _PassFailed(f"cannot list Jobs: {exc.status} {exc.reason}") from None
        jobs = self._resolve_reported_bases(status, jobs)
        fields: dict[str, Any] = {}
        if triggers.poll_due(self.spec, status, now):
            fields.update(self._poll(status))
        rollback_to = self.annotations.get(ROLLBACK_TO)
        current = status.current_run
        if (current is not None and current.phase == RunPhase.PROMOTING) or (
            history.rollback_pending(status, rollback_to)
        ):
            try:
                fields["tag_digest"] = self.registry(self.image.registry).resolve(
                    self.image.repository, self.spec.tag
                )
            except RegistryError as exc:
                raise _PassFailed(str(exc)) from None
            fields["tag_resolved"] = True
        return Observation(
            now=now,
            generation=self.generation,
            run_requested=self.annotations.get(RUN_REQUESTED),
            rollback_to=rollback_to,
            jobs=jobs,
            **fields,
        )

    def _poll(self, status: ContainerImageRefreshStatus) -> dict[str, Any]:
        errors: list[str] = []
        revision: str | None = None
        source = self.spec.source
        try:
            if source.git is not None:
                revision = resolve_git_revision(
                    source.git.url, source.git.revision, credentials=self._git_credentials()
                )
            elif source.config_map is not None:
                cm: Any = self.core.read_namespaced_config_map(
                    source.config_map.name, self.namespace
                )
                revision = configmap_revision(cm.data, cm.binary_data)
        except SourceError as exc:
            errors.append(str(exc))
        except ApiException as exc:
            errors.append(f"spec.source.configMap: {exc.status} {exc.reason}")
        bases: dict[str, str] = {}
        known = status.observed.base_image_digests if status.observed else {}
        for ref in known:
            try:
                digest = self._resolve_ref(ref)
            except RegistryError as exc:
                errors.append(f"base image {ref}: {exc}")
                continue
            if digest:
                bases[ref] = digest
        return {
            "polled": True,
            "source_revision": revision,
            "base_image_digests": bases,
            "poll_error": "; ".join(errors),
        }

    def _git_credentials(self) -> tuple[str, str] | None:
        git = self.spec.source.git
        if git is None or git.secret_ref is None:
            return None
        try:
            secret: Any = self.core.read_namespaced_secret(git.secret_ref.name, self.namespace)
        except ApiException as exc:
            raise SourceError(
                f"spec.source.git.secretRef: cannot read Secret {git.secret_ref.name}: "
                f"{exc.status} {exc.reason}"
            ) from None
        data = secret.data or {}
        if "username" not in data or "password" not in data:
            raise SourceError(
                f"spec.source.git.secretRef: Secret {git.secret_ref.name} needs keys "
                "username and password (ssh keys are not supported yet)"
            )
        return (
            base64.b64decode(data["username"]).decode(),
            base64.b64decode(data["password"]).decode(),
        )

    def _resolve_reported_bases(
        self, status: ContainerImageRefreshStatus, jobs: tuple[JobObservation, ...]
    ) -> tuple[JobObservation, ...]:
        """Fill in digests of the base images a finished build named (while Building)."""
        current = status.current_run
        if current is None or current.phase != RunPhase.BUILDING:
            return jobs
        out = []
        for job in jobs:
            report = job.report
            if report is not None and job.run_id == current.id and report.base_images:
                resolved: dict[str, str] = {}
                for ref in report.base_images:
                    try:
                        digest = self._resolve_ref(ref)
                    except RegistryError as exc:
                        self.logger.warning("cannot resolve base image %s: %s", ref, exc)
                        continue
                    if digest:
                        resolved[ref] = digest
                job = replace(job, report=replace(report, base_images=resolved))
            out.append(job)
        return tuple(out)

    def _resolve_ref(self, ref: str) -> str | None:
        parsed = ImageRef.parse(ref)
        if parsed.digest:
            return parsed.digest
        return self.registry(parsed.registry).resolve(parsed.repository, parsed.reference)

    def registry(self, host: str) -> RegistryClient:
        if host not in self._clients:
            self._clients[host] = RegistryClient(
                host, insecure=self.spec.insecure_registry, credentials=self._credentials(host)
            )
        return self._clients[host]

    def _credentials(self, host: str) -> tuple[str, str] | None:
        ref = self.spec.push_secret_ref
        if ref is None:
            return None
        if not self._dockerconfig_read:
            self._dockerconfig_read = True
            try:
                secret: Any = self.core.read_namespaced_secret(ref.name, self.namespace)
            except ApiException as exc:
                raise _PassFailed(
                    f"spec.pushSecretRef: cannot read Secret {ref.name}: {exc.status} {exc.reason}"
                ) from None
            raw = (secret.data or {}).get(".dockerconfigjson")
            if not raw:
                raise _PassFailed(
                    f"spec.pushSecretRef: Secret {ref.name} has no .dockerconfigjson key"
                )
            self._dockerconfig = base64.b64decode(raw)
        if self._dockerconfig is None:
            return None
        try:
            return credentials_from_dockerconfig(self._dockerconfig, host)
        except RegistryError as exc:
            raise _PassFailed(str(exc)) from None

    # ------------------------------------------------------------------ act
    def act(self, action: Action, status: ContainerImageRefreshStatus) -> None:
        try:
            self._act(action, status)
        except ApiException as exc:
            raise _PassFailed(
                f"{type(action).__name__}: API error {exc.status} {exc.reason}"
            ) from None
        except (RegistryError, BuilderUnavailable) as exc:
            raise _PassFailed(f"{type(action).__name__}: {exc}") from None

    def _act(self, action: Action, status: ContainerImageRefreshStatus) -> None:
        owner = owner_reference(self.body)
        if isinstance(action, EmitEvent):
            kopf.event(
                self._event_target,
                type=action.type,
                reason=action.reason,
                message=_clip(action.message),
            )
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
            moved = self.registry(self.image.registry).move_tag(
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
            kopf.event(
                self._event_target, type="Warning", reason="ReconcileError", message=_clip(message)
            )


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
