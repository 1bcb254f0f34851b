"""What one ContainerImageRefresh pass observes: Jobs, the source, the registry.

Split from the driver in ``adapters.imagerefresh`` so that reading the world
and acting on it can be read apart; the driver makes one ``Observer`` per step
and borrows its registry clients to move tags.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.gitsource import SourceError, configmap_revision, resolve_git_revision
from shakedown.adapters.jobs import LABEL_RESOURCE, Jobs
from shakedown.adapters.registry import (
    ImageRef,
    RegistryClient,
    RegistryError,
    credentials_from_dockerconfig,
)
from shakedown.adapters.runner import StepFailed
from shakedown.adapters.watchcache import Cache
from shakedown.api import annotations as keys
from shakedown.api.imagerefresh import (
    ContainerImageRefreshSpec,
    ContainerImageRefreshStatus,
    RunPhase,
)
from shakedown.planning.imagerefresh import Resource, history, run, triggers
from shakedown.planning.imagerefresh.observed import JobObservation, Observation

RUN_REQUESTED = keys.RUN_REQUESTED
ROLLBACK_TO = keys.ROLLBACK_TO


class PassFailed(StepFailed):
    """An I/O step failed; the step stops and the next one retries from status."""


class Observer:
    """Observation for one step over one resource (registry clients cached for the step)."""

    def __init__(
        self,
        *,
        meta: Mapping[str, Any],
        spec: ContainerImageRefreshSpec,
        logger: Any,
        conn: Connection,
        jobs_seen: Cache | None = None,
    ) -> None:
        self.spec = spec
        self.logger = logger
        self.namespace = str(meta["namespace"])
        self.name = str(meta["name"])
        self.generation = int(meta.get("generation") or 0)
        self.annotations: Mapping[str, str] = meta.get("annotations") or {}
        self.resource = Resource(namespace=self.namespace, name=self.name)
        self.jobs = Jobs(conn, self.namespace)
        self.jobs_seen = jobs_seen
        """The Job cache (``adapters.watchcache``): spares a refresh with no run its list."""
        self.conn = conn
        self.image = ImageRef.parse(spec.image + ":" + spec.tag)
        self._clients: dict[str, RegistryClient] = {}
        self._dockerconfig: bytes | None = None
        self._dockerconfig_read = False

    def read(self, plural: str, name: str) -> dict[str, Any]:
        """A ConfigMap or Secret of the refresh's namespace (``ApiError`` if it cannot be read)."""
        found: dict[str, Any] = self.conn.call(
            "GET", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}"
        )
        return found

    def observe(self, status: ContainerImageRefreshStatus, now: datetime) -> Observation:
        try:
            jobs: tuple[JobObservation, ...] = ()
            if not self._surely_no_jobs(status):
                jobs = self.jobs.observe(
                    self.name, run.logs_wanted(self.spec, status, self.resource, now)
                )
        except ApiError as exc:
            raise PassFailed(f"cannot list Jobs: {exc.status} {exc.reason}") from None
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
                raise PassFailed(str(exc)) from None
            fields["tag_resolved"] = True
        return Observation(
            now=now,
            resource=self.resource,
            generation=self.generation,
            run_requested=self.annotations.get(RUN_REQUESTED),
            rollback_to=rollback_to,
            jobs=jobs,
            **fields,
        )

    def _surely_no_jobs(self, status: ContainerImageRefreshStatus) -> bool:
        """No run in flight (so none of our Jobs is being made) and the Job cache, listed,
        has none of this refresh's: listing them would find none either."""
        cache = self.jobs_seen
        if status.current_run is not None or cache is None or not cache.synced:
            return False
        return not cache.any_labelled(self.namespace, LABEL_RESOURCE, self.name[:63])

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
                cm = self.read("configmaps", source.config_map.name)
                revision = configmap_revision(cm.get("data"), cm.get("binaryData"))
        except SourceError as exc:
            errors.append(str(exc))
        except ApiError as exc:
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
            secret = self.read("secrets", git.secret_ref.name)
        except ApiError as exc:
            raise SourceError(
                f"spec.source.git.secretRef: cannot read Secret {git.secret_ref.name}: "
                f"{exc.status} {exc.reason}"
            ) from None
        data = secret.get("data") or {}
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
                secret = self.read("secrets", ref.name)
            except ApiError as exc:
                raise PassFailed(
                    f"spec.pushSecretRef: cannot read Secret {ref.name}: {exc.status} {exc.reason}"
                ) from None
            raw = (secret.get("data") or {}).get(".dockerconfigjson")
            if not raw:
                raise PassFailed(
                    f"spec.pushSecretRef: Secret {ref.name} has no .dockerconfigjson key"
                )
            self._dockerconfig = base64.b64decode(raw)
        if self._dockerconfig is None:
            return None
        try:
            return credentials_from_dockerconfig(self._dockerconfig, host)
        except RegistryError as exc:
            raise PassFailed(str(exc)) from None
