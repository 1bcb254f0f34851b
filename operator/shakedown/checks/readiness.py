"""Readiness: the shadow's pods all Ready, without a break, for ``readyFor``.

The planner judges this itself from the pods the operator observes (see
``planning.infrarollout.smoke.judge_ready``), because watch events carry the
pods anyway; this class offers the same judgement behind the ``Check``
interface for callers that want to wait on it directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.checks.base import CheckContext, CheckOutcome
from shakedown.planning.infrarollout.objects import ObjKey
from shakedown.planning.infrarollout.smoke import judge_ready


class ReadinessCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        ready_for = float(parse_duration(str(spec.get("readyFor", "30s"))))
        timeout = float(parse_duration(str(spec.get("timeout", "10m"))))
        max_restarts = int(spec.get("maxRestarts", 2))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        message = "not started"
        while loop.time() < deadline:
            workloads: dict[ObjKey, Any] = {}
            for kind in ("Deployment", "StatefulSet", "DaemonSet"):
                for obj in await ctx.call(ctx.kube.list, kind, ctx.namespace):
                    workloads[ObjKey.of(obj)] = obj
            pods = await ctx.call(ctx.kube.list, "Pod", ctx.namespace)
            judgement = judge_ready(
                workloads,
                pods,
                ready_for=ready_for,
                max_restarts=max_restarts,
                now=datetime.now(UTC),
            )
            if judgement.passed:
                return CheckOutcome(True, judgement.message)
            if judgement.failed:
                return CheckOutcome(False, judgement.message)
            message = judgement.message
            await asyncio.sleep(1.0)
        return CheckOutcome(False, f"timed out: {message}")
