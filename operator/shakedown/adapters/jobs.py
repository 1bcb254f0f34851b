"""Kubernetes Jobs for ContainerImageRefresh runs: create, observe, delete.

Every Job of a run carries labels naming the resource, the run and the step,
and an owner reference to the resource, so the operator can list exactly its
own Jobs after a restart and the garbage collector removes them with the
resource. Creation treats "already exists" as success: Job names are derived
from the run, so asking twice is how a restarted operator resumes.

Observation reduces a Job and its pod to a ``JobObservation``: the state,
times, why it failed or waits (exit code, deadline, image pull error), the log
tail when it matters, and the termination message (the build's report).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.buildreport import parse_report
from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.planning.imagerefresh.observed import JobObservation, JobState
from shakedown.planning.imagerefresh.run import DEADLINE_GRACE_SECONDS
from shakedown.planning.infrarollout.objects import parse_time

LABEL_RESOURCE = "shakedown.dev/containerimagerefresh"
LABEL_RUN = "shakedown.dev/run"
LABEL_STEP = "shakedown.dev/step"
LABEL_SCENARIO = "shakedown.dev/scenario"
#: Lines of log kept for a failed step.
LOG_TAIL_LINES = 30
#: Waiting reasons worth showing while a pod does not start.
_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


def owner_reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """An owner reference to the ContainerImageRefresh ``body``."""
    meta = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
        "kind": body.get("kind", "ContainerImageRefresh"),
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }


def labels(resource: str, run_id: str, step: str, scenario: str = "") -> dict[str, str]:
    out = {LABEL_RESOURCE: resource[:63], LABEL_RUN: run_id, LABEL_STEP: step}
    if scenario:
        out[LABEL_SCENARIO] = scenario
    return out


def job_manifest(
    *,
    name: str,
    namespace: str,
    owner: Mapping[str, Any],
    job_labels: Mapping[str, str],
    pod_spec: Mapping[str, Any],
    deadline_seconds: int,
) -> dict[str, Any]:
    """A Job that runs its pod once (no retries) and is stopped after ``deadline_seconds``."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(job_labels),
            "ownerReferences": [dict(owner)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_seconds,
            "template": {
                "metadata": {"labels": dict(job_labels)},
                "spec": {"restartPolicy": "Never", **pod_spec},
            },
        },
    }


def test_job(
    *,
    spec: ContainerImageRefreshSpec,
    scenario: str,
    name: str,
    namespace: str,
    image: str,
    owner: Mapping[str, Any],
    resource: str,
    run_id: str,
) -> dict[str, Any]:
    """The Job running one scenario in the candidate image, by digest."""
    test = next(t for t in spec.tests if t.name == scenario)
    container: dict[str, Any] = {
        "name": "test",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if test.command:
        container["command"] = list(test.command)
    if test.args:
        container["args"] = list(test.args)
    if test.env:
        container["env"] = [env.to_api() for env in test.env]
    pod: dict[str, Any] = {
        "containers": [container],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,  # a test has no business with the API
        "terminationGracePeriodSeconds": 5,
    }
    if spec.push_secret_ref is not None:
        pod["imagePullSecrets"] = [{"name": spec.push_secret_ref.name}]
    return job_manifest(
        name=name,
        namespace=namespace,
        owner=owner,
        job_labels=labels(resource, run_id, "test", scenario),
        pod_spec=pod,
        deadline_seconds=parse_duration(test.timeout) + DEADLINE_GRACE_SECONDS,
    )


class Jobs:
    """Job operations in one namespace (plain JSON, as the API server sends it)."""

    def __init__(self, conn: Connection, namespace: str) -> None:
        self.conn = conn
        self.namespace = namespace

    def _path(self, prefix: str, plural: str, name: str = "") -> str:
        return f"{prefix}/namespaces/{self.namespace}/{plural}" + (f"/{name}" if name else "")

    def create(self, manifest: Mapping[str, Any]) -> bool:
        """Create the Job; False when it already existed (nothing is changed then)."""
        body = {"apiVersion": "batch/v1", "kind": "Job", **manifest}
        try:
            self.conn.call("POST", self._path(BATCH, "jobs"), body=body)
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def delete(self, name: str) -> None:
        """Delete the Job and (in the background) its pods; no-op when gone."""
        body = {"propagationPolicy": "Background", "gracePeriodSeconds": 0}
        try:
            self.conn.call("DELETE", self._path(BATCH, "jobs", name), body=body)
        except ApiError as exc:
            if exc.status != 404:
                raise

    def _list(self, prefix: str, plural: str, resource: str) -> list[Obj]:
        query = {"labelSelector": f"{LABEL_RESOURCE}={resource[:63]}"}
        found = self.conn.call("GET", self._path(prefix, plural), query=query) or {}
        items: list[Obj] = found.get("items") or []
        return items

    def observe(self, resource: str, want_logs: Collection[str] = ()) -> tuple[JobObservation, ...]:
        """Every Job of ``resource``, with pod details."""
        jobs = self._list(BATCH, "jobs", resource)
        if not jobs:
            return ()
        by_job: dict[str, list[Obj]] = {}
        for pod in self._list(CORE, "pods", resource):
            pod_labels = _meta(pod).get("labels") or {}
            job_name = pod_labels.get("job-name") or pod_labels.get("batch.kubernetes.io/job-name")
            if job_name:
                by_job.setdefault(job_name, []).append(pod)
        return tuple(
            self._observe_one(job, by_job.get(_meta(job).get("name", ""), []), want_logs)
            for job in jobs
        )

    def _observe_one(
        self, job: Obj, pods: Sequence[Obj], want_logs: Collection[str]
    ) -> JobObservation:
        meta_labels = _meta(job).get("labels") or {}
        status = job.get("status") or {}
        state = JobState.RUNNING
        reason = ""
        finished = parse_time(status.get("completionTime"))
        for cond in status.get("conditions") or []:
            if cond.get("status") != "True":
                continue
            if cond.get("type") == "Complete":
                state = JobState.SUCCEEDED
                finished = finished or parse_time(cond.get("lastTransitionTime"))
            elif cond.get("type") == "Failed":
                state = JobState.FAILED
                finished = parse_time(cond.get("lastTransitionTime"))
                reason = cond.get("reason") or "Failed"
                if cond.get("reason") == "DeadlineExceeded":
                    reason = "deadline exceeded"
        pod = _newest(pods)
        message = ""
        if pod is not None:
            pod_status = pod.get("status") or {}
            for cs in (pod_status.get("containerStatuses") or [])[:1]:
                terminated = (cs.get("state") or {}).get("terminated")
                waiting = (cs.get("state") or {}).get("waiting")
                if terminated is not None:
                    message = terminated.get("message") or ""
                    exit_code = terminated.get("exitCode")
                    if exit_code:
                        reason = f"exit code {exit_code}"
                        term_reason = terminated.get("reason")
                        if term_reason and term_reason not in ("Error", "Completed"):
                            reason += f" ({term_reason})"
                    # With restartPolicy Never and no retries the pod's end is the
                    # Job's end: act on it without waiting for the Job controller.
                    if state is JobState.RUNNING:
                        state = JobState.FAILED if exit_code else JobState.SUCCEEDED
                        finished = parse_time(terminated.get("finishedAt"))
                elif waiting is not None and waiting.get("reason") in _WAITING_REASONS:
                    reason = str(waiting["reason"])
                    if waiting.get("message"):
                        reason += f": {waiting['message']}"
            if state is JobState.RUNNING and not reason and pod_status.get("phase") == "Failed":
                reason = pod_status.get("reason") or "pod failed"
        log_tail = ""
        name = str(_meta(job).get("name", ""))
        if pod is not None and (state is JobState.FAILED or name in want_logs):
            log_tail = self._log_tail(str(_meta(pod).get("name", "")))
        if not log_tail and state is JobState.FAILED and message and message[:1] != "{":
            log_tail = message  # FallbackToLogsOnError put the log end here
        report = None
        if meta_labels.get(LABEL_STEP) == "build" and state is JobState.SUCCEEDED:
            report = parse_report(message)
        return JobObservation(
            name=name,
            run_id=meta_labels.get(LABEL_RUN, ""),
            step=meta_labels.get(LABEL_STEP, ""),
            scenario=meta_labels.get(LABEL_SCENARIO, ""),
            state=state,
            started_at=parse_time(status.get("startTime")),
            finished_at=finished,
            reason=reason[:256],
            log_tail=log_tail,
            report=report,
        )

    def _log_tail(self, pod: str) -> str:
        query = {"tailLines": str(LOG_TAIL_LINES), "limitBytes": "16000"}
        try:
            return self.conn.text(self._path(CORE, "pods", pod) + "/log", query=query)
        except ApiError:
            return ""


BATCH, CORE = "/apis/batch/v1", "/api/v1"
Obj = dict[str, Any]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _newest(pods: Sequence[Obj]) -> Obj | None:
    if not pods:
        return None
    return max(
        pods,
        key=lambda p: (
            parse_time(_meta(p).get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)
        ),
    )
