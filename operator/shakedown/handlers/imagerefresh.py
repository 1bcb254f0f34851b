"""kopf handlers for ContainerImageRefresh: wiring only.

``reconcile`` (create, update, resume) only validates: an invalid spec is
reported Stalled with the field named. Everything else happens in the
resource's ``Runner`` (``adapters.runner``), started by its first watch event
(``refresh``): with an ``ImageRefreshDriver`` it observes (the resource's
Jobs, the registry, the source), asks the pure planner for a decision, stores
the status, then carries the actions out, on every wake-up; while a run is in
flight at least every ``TICK_SECONDS``, while idle only at its next due time
(schedule, poll). The resource's own events and those of its Jobs and pods
wake it. No finalizer: its Jobs go with it (owner references), so deleting it
waits for nothing.
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
from shakedown.handlers.reporting import on_spec, refused
from shakedown.planning.validation import validate_image_refresh

__all__ = ["reconcile", "refresh"]


@on_spec(NAMES.plural)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    model, problems = validate_image_refresh(spec)
    refused(model, problems, body=body, patch=patch, meta=meta, logger=logger)
    # A valid spec: the refresh's runner owns status (conditions, observedGeneration).


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
