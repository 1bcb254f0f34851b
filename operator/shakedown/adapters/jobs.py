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
from datetime import datetime
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.buildreport import parse_report
from shakedown.adapters.kubeclient import ApiClient, ApiException
from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.planning.imagerefresh.observed import JobObservation, JobState
from shakedown.planning.imagerefresh.run import DEADLINE_GRACE_SECONDS

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
    """Job operations in one namespace."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.batch = kubeclient.batch(api)
        self.core = kubeclient.core(api)
        self.namespace = namespace

    def create(self, manifest: Mapping[str, Any]) -> bool:
        """Create the Job; False when it already existed (nothing is changed then)."""
        try:
            body: Any = dict(manifest)
            self.batch.create_namespaced_job(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def delete(self, name: str) -> None:
        """Delete the Job and (in the background) its pods; no-op when gone."""
        try:
            self.batch.delete_namespaced_job(
                name, self.namespace, propagation_policy="Background", grace_period_seconds=0
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def observe(self, resource: str, want_logs: Collection[str] = ()) -> tuple[JobObservation, ...]:
        """Every Job of ``resource``, with pod details."""
        jobs: list[Any] = self.batch.list_namespaced_job(
            self.namespace, label_selector=f"{LABEL_RESOURCE}={resource[:63]}"
        ).items
        if not jobs:
            return ()
        pods: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{LABEL_RESOURCE}={resource[:63]}"
        ).items
        by_job: dict[str, list[Any]] = {}
        for pod in pods:
            job_name = (pod.metadata.labels or {}).get("job-name") or (
                pod.metadata.labels or {}
            ).get("batch.kubernetes.io/job-name")
            if job_name:
                by_job.setdefault(job_name, []).append(pod)
        return tuple(
            self._observe_one(job, by_job.get(job.metadata.name, []), want_logs) for job in jobs
        )

    def _observe_one(
        self, job: Any, pods: Sequence[Any], want_logs: Collection[str]
    ) -> JobObservation:
        meta_labels = job.metadata.labels or {}
        status = job.status
        state = JobState.RUNNING
        reason = ""
        finished: datetime | None = status.completion_time
        for cond in status.conditions or []:
            if cond.status != "True":
                continue
            if cond.type == "Complete":
                state = JobState.SUCCEEDED
                finished = finished or cond.last_transition_time
            elif cond.type == "Failed":
                state = JobState.FAILED
                finished = cond.last_transition_time
                reason = cond.reason or "Failed"
                if cond.reason == "DeadlineExceeded":
                    reason = "deadline exceeded"
        pod = _newest(pods)
        message = ""
        if pod is not None:
            for cs in (pod.status.container_statuses or [])[:1]:
                if cs.state.terminated is not None:
                    term = cs.state.terminated
                    message = term.message or ""
                    if term.exit_code:
                        reason = f"exit code {term.exit_code}"
                        if term.reason and term.reason not in ("Error", "Completed"):
                            reason += f" ({term.reason})"
                    # With restartPolicy Never and no retries the pod's end is the
                    # Job's end: act on it without waiting for the Job controller.
                    if state is JobState.RUNNING:
                        state = JobState.FAILED if term.exit_code else JobState.SUCCEEDED
                        finished = term.finished_at
                elif cs.state.waiting is not None and cs.state.waiting.reason in _WAITING_REASONS:
                    reason = cs.state.waiting.reason
                    if cs.state.waiting.message:
                        reason += f": {cs.state.waiting.message}"
            if state is JobState.RUNNING and not reason and pod.status.phase == "Failed":
                reason = pod.status.reason or "pod failed"
        log_tail = ""
        if pod is not None and (state is JobState.FAILED or job.metadata.name in want_logs):
            log_tail = self._log_tail(pod.metadata.name)
        if not log_tail and state is JobState.FAILED and message and message[:1] != "{":
            log_tail = message  # FallbackToLogsOnError put the log end here
        report = None
        if meta_labels.get(LABEL_STEP) == "build" and state is JobState.SUCCEEDED:
            report = parse_report(message)
        return JobObservation(
            name=job.metadata.name,
            run_id=meta_labels.get(LABEL_RUN, ""),
            step=meta_labels.get(LABEL_STEP, ""),
            scenario=meta_labels.get(LABEL_SCENARIO, ""),
            state=state,
            started_at=status.start_time,
            finished_at=finished,
            reason=reason[:256],
            log_tail=log_tail,
            report=report,
        )

    def _log_tail(self, pod: str) -> str:
        try:
            text: str = self.core.read_namespaced_pod_log(
                pod, self.namespace, tail_lines=LOG_TAIL_LINES, limit_bytes=16000
            )
        except ApiException:
            return ""
        return text


def _newest(pods: Sequence[Any]) -> Any:
    if not pods:
        return None
    return max(pods, key=lambda p: p.metadata.creation_timestamp)
