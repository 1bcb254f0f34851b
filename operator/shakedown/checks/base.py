"""The interface every check implements, and what it is given to run.

A check runs against one namespace (the shadow during smoke tests) and
reports a ``CheckOutcome``. Checks that create objects name them after the
rollout, revision and check, so a restarted operator finds the pod or Job of
its previous run instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shakedown.checks.kube import JobNews, Kube
from shakedown.planning.infrarollout.smoke import CheckOutcome

__all__ = ["Check", "CheckContext", "CheckOutcome", "object_name", "probe_image"]

#: Image with busybox's ``sh`` and ``nc`` used for HTTP checks (busybox by default).
PROBE_IMAGE_ENV = "SHAKEDOWN_PROBE_IMAGE"


def probe_image() -> str:
    return os.environ.get(PROBE_IMAGE_ENV) or "busybox:stable"


@dataclass(frozen=True)
class CheckContext:
    kube: Kube
    namespace: str
    rollout: str
    revision: int
    labels: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    """Candidate image (Job checks without an image of their own)."""
    home_namespace: str | None = None
    """The rollout's namespace, where templates and Secrets it names live (namespace when unset)."""
    field: str = ""
    """Path of the check in the spec, e.g. spec.smokeTests.metrics[0], for messages."""
    job_news: JobNews | None = None
    """Wakes a Job check when its Job finishes (``adapters.jobwatch``); None: it polls."""

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking client call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


class Check(Protocol):
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        """Run the check to its end and report."""


def object_name(prefix: str, check: str, revision: int) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{check}-r{revision}".lower())
    return name[:63].strip("-")


def termination_message(pod: Mapping[str, Any]) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated:
            return str(terminated.get("message") or terminated.get("reason") or "").strip()
    return ""
