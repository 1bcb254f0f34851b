"""kopf handlers for ContainerImageRefresh.

``reconcile`` (create, update, resume) only validates: an invalid spec is
reported Stalled with the field named. Everything else happens in the
``refresh`` daemon (one per resource, a pass on every wake-up and at least
every ``TICK_SECONDS``): observe (the resource's Jobs, the registry, the
source), ask the pure planner (``shakedown.planning.imagerefresh``) for the
next status and actions, store the status, then carry the actions out. That
pass is ``adapters.imagerefresh``; this module only wires it to kopf (daemon,
wake-ups, Events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import kopf

from shakedown import GROUP, VERSION
from shakedown.adapters import imagerefresh as engine
from shakedown.adapters.imagerefresh import (  # re-exported: other code imports them from here
    MAX_ROUNDS,
    ROLLBACK_TO,
    RUN_REQUESTED,
    merge_patch,
)
from shakedown.adapters.jobs import LABEL_RESOURCE
from shakedown.api.imagerefresh import PLURAL
from shakedown.handlers.reporting import Verdict, report
from shakedown.planning.validation import validate_image_refresh

__all__ = [
    "MAX_ROUNDS",
    "ROLLBACK_TO",
    "RUN_REQUESTED",
    "TICK_SECONDS",
    "merge_patch",
    "reconcile",
    "reconcile_once",
    "refresh",
]


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    model, problems = validate_image_refresh(spec)
    if model is None or problems:
        report(
            body=body,
            patch=patch,
            verdict=Verdict.invalid(problems),
            generation=generation,
            logger=logger,
        )
        return
    # A valid spec: the refresh daemon owns status (conditions, observedGeneration).


# --------------------------------------------------------------------------- refresh runs
#: Seconds between reconcile passes of each resource without any wake-up (Job and
#: resource events wake it at once; this bounds schedule and poll latency).
TICK_SECONDS = 5.0
#: Wake-up events of the running daemons, by (namespace, name).
_WAKE: dict[tuple[str, str], asyncio.Event] = {}


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10)
async def refresh(
    name: str,
    namespace: str | None,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Reconcile passes for one resource: on every wake-up, at least every TICK_SECONDS."""
    key = (namespace or "default", name)
    wake = _WAKE.setdefault(key, asyncio.Event())
    while not stopped:
        wake.clear()
        await asyncio.to_thread(reconcile_once, key[0], name, logger)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), TICK_SECONDS)
    _WAKE.pop(key, None)


def reconcile_once(namespace: str, name: str, logger: kopf.Logger | Any) -> None:
    """One pass over one resource (see ``adapters.imagerefresh``), posting Events via kopf."""
    engine.reconcile_once(namespace, name, logger, post_event=_post_event)


def _post_event(target: Any, type_: str, reason: str, message: str) -> None:
    kopf.event(target, type=type_, reason=reason, message=message)


# Wake-ups run in the event loop (async), where the daemons' asyncio.Events live.
async def _wake_from_job(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    owner = labels.get(LABEL_RESOURCE)
    event = _WAKE.get((namespace or "default", owner or ""))
    if event is not None:
        event.set()


kopf.on.event("batch", "v1", "jobs", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-jobs")(
    _wake_from_job
)
kopf.on.event("", "v1", "pods", labels={LABEL_RESOURCE: kopf.PRESENT}, id="wake-cir-pods")(
    _wake_from_job
)


@kopf.on.event(GROUP, VERSION, PLURAL, id="wake-cir")
async def _wake_from_self(name: str | None, namespace: str | None, **_: Any) -> None:
    event = _WAKE.get((namespace or "default", name or ""))
    if event is not None:
        event.set()
