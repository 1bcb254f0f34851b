"""Job: a test run as a Kubernetes Job in the checked namespace, by default in the candidate image.

Passes when the Job completes, fails when it fails or outlives ``timeout``;
the message carries the tail of the failed container's output (termination
message, falling back to the log tail). The Job is found by its name before it
is created, so a restarted operator follows the one it started. In the shadow
it is named after the check and revision; in production (``rollback.jobs``)
the planner names it, makes the rollout its owner and gives it the workload's
ServiceAccount and security contexts.

While the Job runs, the check learns that it finished from a watch
(``ctx.job_news``: one label-filtered watch of check Jobs, shared by every
waiting check, ``adapters.jobwatch``), not from a GET every second, which at
1,000 rollouts in a ten-minute check was 1,000 requests a second. Why a shared
watch rather than one per check is said there. The Job's own GET stays the
source of truth: once before waiting, again on each wake-up, at the deadline,
and at least every ``SAFETY_SECONDS`` in case an event was missed. When no
watch can bring the news (refused by RBAC, connection trouble, none given),
the check polls every ``POLL_SECONDS``. The waiting holds no executor thread:
the watch has a thread of its own, and a cancelled check unsubscribes at once
(the last one out stops the watch).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.checks.base import CheckContext, CheckOutcome, object_name, termination_message
from shakedown.checks.kube import JobNews, Subscription
from shakedown.planning.infrarollout.objects import CHECK_LABEL

#: Keys a production Job check is given beside its spec (``planning.infrarollout.production_jobs``)
#: that become fields of the Job's pod: it runs like the workload it tests.
POD_FIELDS = {
    "serviceAccountName": "serviceAccountName",
    "podSecurityContext": "securityContext",
    "imagePullSecrets": "imagePullSecrets",
}
#: Seconds between GETs of a watched Job: a safety net for a missed event, not the trigger.
SAFETY_SECONDS = 60.0
#: Seconds between GETs of a Job no watch follows (refused, failing, or none given).
POLL_SECONDS = 5.0


def ending(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The condition that ended a Job (Complete or Failed, status True); None while it runs.

    The one reading of "finished": the check judges by it, and the shared watch
    (``adapters.jobwatch``) wakes a check by it.
    """
    conditions: list[Mapping[str, Any]] = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return condition
    return None


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
        return await self._wait(ctx, name, timeout)

    async def _wait(self, ctx: CheckContext, name: str, timeout: int) -> CheckOutcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + 60
        news = asyncio.Event()

        def wake() -> None:  # from the watch's thread
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                loop.call_soon_threadsafe(news.set)

        subscription = None
        if ctx.job_news is not None:
            subscription = await _subscribe(ctx, ctx.job_news, name, wake)
        try:
            while True:
                news.clear()
                current = await ctx.call(ctx.kube.get, "Job", ctx.namespace, name) or {}
                outcome = await self._judge(ctx, name, current)
                if outcome is not None:
                    return outcome
                left = deadline - loop.time()
                if left <= 0:
                    break
                watched = subscription is not None and subscription.watching
                with contextlib.suppress(TimeoutError):
                    pause = min(SAFETY_SECONDS if watched else POLL_SECONDS, left)
                    await asyncio.wait_for(news.wait(), pause)
        finally:
            if subscription is not None:
                subscription.close()
        return CheckOutcome(False, f"Job {name} did not finish within {timeout}s", job=name)

    async def _judge(
        self, ctx: CheckContext, name: str, current: Mapping[str, Any]
    ) -> CheckOutcome | None:
        """The outcome once the Job finished; None while it runs."""
        condition = ending(current)
        if condition is None:
            return None
        if condition.get("type") == "Complete":
            return CheckOutcome(True, f"Job {name} completed", job=name)
        detail = await self._output(ctx, name)
        reason = condition.get("message") or condition.get("reason") or "failed"
        return CheckOutcome(False, f"Job {name}: {reason}. {detail}".strip(), job=name)

    async def _output(self, ctx: CheckContext, job: str) -> str:
        pods = await ctx.call(ctx.kube.list, "Pod", ctx.namespace, labels=f"job-name={job}")
        for pod in pods:
            message = termination_message(pod)
            if message:
                return message[-900:]
        return ""


async def _subscribe(
    ctx: CheckContext, news: JobNews, name: str, wake: Callable[[], None]
) -> Subscription:
    """Subscribe off the loop (the first one asks the API server a question), and
    unsubscribe when the check was cancelled meanwhile, so no waiter keeps a watch open."""
    made = asyncio.ensure_future(ctx.call(news.subscribe, ctx.namespace, name, wake))
    try:
        return await asyncio.shield(made)
    except asyncio.CancelledError:
        made.add_done_callback(_close_made)
        raise


def _close_made(made: asyncio.Future[Subscription]) -> None:
    if not made.cancelled() and made.exception() is None:
        made.result().close()
