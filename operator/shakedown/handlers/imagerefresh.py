"""kopf handlers for ContainerImageRefresh: wiring only.

``reconcile`` (create, update, resume) only validates: an invalid spec is
reported Stalled with the field named. Everything else happens in the
``refresh`` daemon, one per resource: its ``Runner`` (``adapters.runner``)
with an ``ImageRefreshDriver`` observes (the resource's Jobs, the registry,
the source), asks the pure planner for a decision, stores the status, then
carries the actions out, on every wake-up and at least every ``TICK_SECONDS``.
The resource's own events and those of its Jobs and pods wake it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from shakedown import GROUP, VERSION
from shakedown.adapters.imagerefresh import KIND, ImageRefreshDriver
from shakedown.adapters.jobs import LABEL_RESOURCE
from shakedown.adapters.wakeups import Wakers
from shakedown.api.imagerefresh import PLURAL
from shakedown.handlers import runners
from shakedown.handlers.reporting import on_spec, refused
from shakedown.planning.validation import validate_image_refresh

__all__ = ["reconcile", "refresh"]


@on_spec(PLURAL)
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
    # A valid spec: the refresh daemon owns status (conditions, observedGeneration).


def _make(namespace: str, name: str) -> Callable[[Wakers], runners.AnyRunner]:
    return runners.maker(
        lambda kube, _: ImageRefreshDriver(kube, namespace, name, post_event=runners.post_event)
    )


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def refresh(
    name: str, namespace: str | None, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
) -> None:
    """Steps for one resource: on every wake-up, at least every TICK_SECONDS."""
    namespace = namespace or "default"
    await runners.drive(memo, (KIND, namespace, name), _make(namespace, name), stopped)


# Wake-ups run in the event loop (async), where the runners' asyncio.Events live.
async def _wake_from_job(
    labels: Mapping[str, str], namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    owner = labels.get(LABEL_RESOURCE)
    runners.wake(memo, KIND, namespace, owner)


kopf.on.event("batch", "v1", "jobs", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-jobs")(
    _wake_from_job
)
kopf.on.event("", "v1", "pods", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-pods")(
    _wake_from_job
)


@kopf.on.event(GROUP, VERSION, PLURAL, id="wake-cir")
async def _wake_from_self(
    name: str | None, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    runners.wake(memo, KIND, namespace, name)
