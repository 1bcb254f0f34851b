"""kopf handlers for ContainerImageRefresh: wiring only.

Everything happens in the resource's ``Runner`` (``adapters.runner``), started
by its first watch event (``refresh``): with an ``ImageRefreshDriver`` it
judges the spec (an invalid one is reported Stalled with the fields named, once
per generation), observes (the resource's Jobs, the registry, the source), asks
the pure planner for a decision, stores the status, then carries the actions
out, on every wake-up; while a run is in flight at least every
``TICK_SECONDS``, while idle only at its next due time (schedule, poll). The
resource's own events and those of its Jobs and pods wake it. kopf has no
change handler here, so it stores no bookkeeping on the resource. No
finalizer: its Jobs go with it (owner references), so deleting it waits for
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from shakedown.adapters.imagerefresh import ImageRefreshDriver
from shakedown.adapters.jobs import LABEL_RESOURCE
from shakedown.adapters.wakeups import Wakers
from shakedown.adapters.workloads import Kube
from shakedown.api.imagerefresh import NAMES
from shakedown.handlers import runners

__all__ = ["refresh"]


def _driver(kube: Kube, _: Wakers, namespace: str, name: str) -> ImageRefreshDriver:
    return ImageRefreshDriver(kube, namespace, name, post_event=runners.post_event)


#: The resource's own news: start its runner, or wake it when the body is new.
refresh = runners.on_own_events(NAMES.plural, NAMES.kind, _driver, handler_id="wake-cir")


# Wake-ups run in the event loop (async), where the runners' asyncio.Events live.
async def _wake_from_job(
    labels: Mapping[str, str], namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    owner = labels.get(LABEL_RESOURCE)
    runners.wake(memo, NAMES.kind, namespace, owner)


kopf.on.event("batch", "v1", "jobs", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-jobs")(
    _wake_from_job
)
kopf.on.event("", "v1", "pods", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-pods")(
    _wake_from_job
)
