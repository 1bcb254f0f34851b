"""Job: a test run as a Kubernetes Job in the checked namespace, by default in the candidate image.

Passes when the Job completes, fails when it fails or outlives ``timeout``;
the message carries the tail of the failed container's output (termination
message, falling back to the log tail).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.checks.base import CheckContext, CheckOutcome, object_name, termination_message
from shakedown.planning.infrarollout.objects import CHECK_LABEL


class JobCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        image = spec.get("image") or ctx.image
        if not image:
            return CheckOutcome(False, "no image: set smokeTests.jobs[].image or change an image")
        timeout = parse_duration(str(spec.get("timeout", "10m")))
        name = object_name("shakedown-job", str(spec["name"]), ctx.revision)
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
        labels = {**ctx.labels, CHECK_LABEL: str(spec["name"])}
        job = {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": max(1, timeout),
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"restartPolicy": "Never", "containers": [container]},
                },
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
