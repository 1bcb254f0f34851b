"""Job: a test run as a Kubernetes Job in the checked namespace, by default in the candidate image.

Passes when the Job completes, fails when it fails or outlives ``timeout``;
the message carries the tail of the failed container's output (termination
message, falling back to the log tail). The Job is found by its name before it
is created, so a restarted operator follows the one it started. In the shadow
it is named after the check and revision; in production (``rollback.jobs``)
the planner names it, makes the rollout its owner and gives it the workload's
ServiceAccount and security contexts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.checks.base import CheckContext, CheckOutcome, object_name, termination_message
from shakedown.planning.infrarollout.objects import CHECK_LABEL

#: Keys a production Job check is given beside its spec (``planning.infrarollout.production_jobs``)
#: that become fields of the Job's pod: it runs like the workload it tests.
POD_FIELDS = {
    "serviceAccountName": "serviceAccountName",
    "podSecurityContext": "securityContext",
    "imagePullSecrets": "imagePullSecrets",
}


class JobCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        image = spec.get("image") or ctx.image
        if not image:
            where = ctx.field or "spec.smokeTests.jobs[]"
            return CheckOutcome(False, f"no image: set {where}.image or change an image")
        timeout = parse_duration(str(spec.get("timeout", "10m")))
        name = str(
            spec.get("jobName") or object_name("shakedown-job", str(spec["name"]), ctx.revision)
        )
        container: dict[str, Any] = {
            "name": "test",
            "image": image,
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
        if spec.get("command"):
            container["command"] = list(spec["command"])
        if spec.get("args"):
            container["args"] = list(spec["args"])
        if spec.get("env"):
            container["env"] = list(spec["env"])
        if spec.get("securityContext"):
            container["securityContext"] = spec["securityContext"]
        labels = {**ctx.labels, CHECK_LABEL: str(spec["name"])}
        pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        for key, field in POD_FIELDS.items():
            if spec.get(key):
                pod[field] = spec[key]
        metadata: dict[str, Any] = {"name": name, "labels": labels}
        if spec.get("ownerReferences"):
            metadata["ownerReferences"] = list(spec["ownerReferences"])
        job = {
            "metadata": metadata,
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": max(1, timeout),
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        }
        if await ctx.call(ctx.kube.get, "Job", ctx.namespace, name) is None:
            await ctx.call(ctx.kube.create, "Job", ctx.namespace, job)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + 60
        while loop.time() < deadline:
            current = await ctx.call(ctx.kube.get, "Job", ctx.namespace, name) or {}
            for condition in current.get("status", {}).get("conditions") or []:
                if condition.get("status") != "True":
                    continue
                if condition.get("type") == "Complete":
                    return CheckOutcome(True, f"Job {name} completed", job=name)
                if condition.get("type") == "Failed":
                    detail = await self._output(ctx, name)
                    reason = condition.get("message") or condition.get("reason") or "failed"
                    return CheckOutcome(False, f"Job {name}: {reason}. {detail}".strip(), job=name)
            await asyncio.sleep(1.0)
        return CheckOutcome(False, f"Job {name} did not finish within {timeout}s", job=name)

    async def _output(self, ctx: CheckContext, job: str) -> str:
        pods = await ctx.call(ctx.kube.list, "Pod", ctx.namespace, labels=f"job-name={job}")
        for pod in pods:
            message = termination_message(pod)
            if message:
                return message[-900:]
        return ""
