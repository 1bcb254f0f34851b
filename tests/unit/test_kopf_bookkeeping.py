"""What kopf itself writes on our objects, on kopf's real processing code.

kopf's only change handler is the InfraRollout finalizer (``finalize``, on
deletion of a rollout in flight). These feed kopf's own event processing an
InfraRollout the way its watch would and look at the patch kopf would send:
with the operator's settings it carries no copy of the spec
(``last-handled-configuration``), no ``kopf-managed`` marker and no handler
progress, while the finalizer still comes and goes and a deletion still
reaches the finalizer (its last patch, releasing the object, carries kopf's
marker). With kopf's annotation diff base (what the operator used to
configure), the same event would write the spec into an annotation: the first
test shows what ``handlers.nodiffbase`` is for, and fails if kopf stops doing
it on its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.structs import bodies, patches, references
from kopf._core.actions import lifecycles, loggers
from kopf._core.engines import indexing
from kopf._core.reactor import inventory, processing

from shakedown import GROUP, VERSION
from shakedown.handlers import FINALIZER, configure
from shakedown.handlers import infrarollout as rollout_handlers

RESOURCE = references.Resource(
    group=GROUP, version=VERSION, plural="infrarollouts", kind="InfraRollout", namespaced=True
)


#: ``configure`` and ``listed_namespaces.install`` wrap a function of kopf's: put it back.
pytestmark = pytest.mark.usefixtures("kopf_as_it_was")


def operator_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    cast(Any, configure)(settings=settings, memo=kopf.Memo())  # a kopf startup handler
    return settings


def only_our_change_handlers() -> kopf.OperatorRegistry:
    """The change handlers ``shakedown.handlers`` registers, and nothing else (the
    watch-event handlers start runners, which need a running operator)."""
    registry = kopf.OperatorRegistry()
    for handler in kopf.get_default_registry()._changing.get_resource_handlers(RESOURCE):
        registry._changing.append(handler)
    return registry


def rollout(*, phase: str, finalizer: bool, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "change",
        "namespace": "prod",
        "uid": "u1",
        "generation": 2,
        "resourceVersion": "7",
        "annotations": {"shakedown.dev/promote": "1"},
        "finalizers": [FINALIZER] if finalizer else [],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T12:00:00Z"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InfraRollout",
        "metadata": meta,
        "spec": {"targets": [{"kind": "Deployment", "name": "web"}], "bake": "5m"},
        "status": {"revision": 1, "phase": phase},
    }


def process(
    settings: kopf.OperatorSettings,
    raw: dict[str, Any],
    registry: kopf.OperatorRegistry | None = None,
) -> patches.Patch:
    """kopf's handling of one MODIFIED event of ``raw``; the patch it would send."""
    body = bodies.Body(cast(bodies.RawBody, raw))
    patch = patches.Patch(body=body)
    logger = loggers.LocalObjectLogger(body=body, settings=settings)

    async def handle() -> None:  # kopf's per-object memory wants the running loop
        await processing.process_resource_causes(
            lifecycle=lifecycles.all_at_once,
            indexers=indexing.OperatorIndexers(),
            registry=registry or only_our_change_handlers(),
            settings=settings,
            resource=RESOURCE,
            raw_event=cast(bodies.RawEvent, {"type": "MODIFIED", "object": raw}),
            body=body,
            patch=patch,
            memory=inventory.ResourceMemory(),
            local_logger=logger,
            event_logger=logger,
            stream_pressure=None,
            operator_paused=None,
            consistency_time=None,
        )

    asyncio.run(handle())
    return patch


def written(patch: patches.Patch) -> dict[str, Any]:
    return dict(patch.get("metadata", {}).get("annotations", {}))


def test_kopfs_annotation_diff_base_would_copy_the_spec_of_a_rollout_in_flight() -> None:
    settings = operator_settings()
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    stored = written(process(settings, rollout(phase="Baking", finalizer=True)))
    assert '"bake"' in stored[f"{GROUP}/last-handled-configuration"]


def test_a_rollout_in_flight_gets_its_finalizer_and_no_bookkeeping() -> None:
    settings = operator_settings()
    first = process(settings, rollout(phase="Baking", finalizer=False))
    assert written(first) == {}
    assert first.fns, "the finalizer is added (a patch function of kopf's)"
    # Every later event (its echo, a spec edit, a steering annotation) is a creation to
    # kopf, for which no handler is registered: nothing to write.
    assert process(settings, rollout(phase="Baking", finalizer=True)) == {}
    assert not process(settings, rollout(phase="Baking", finalizer=True)).fns


def test_a_finished_rollout_is_invisible_to_kopf_and_loses_its_finalizer() -> None:
    settings = operator_settings()
    assert process(settings, rollout(phase="Succeeded", finalizer=False)) == {}
    released = process(settings, rollout(phase="Succeeded", finalizer=True))
    assert written(released) == {} and released.fns, "the finalizer is removed"


def test_a_deletion_in_flight_runs_the_finalizer_and_then_releases_the_object() -> None:
    """kopf's whole write on a deleted rollout in flight, around a stand-in for ``finalize``
    (the real one steps the rollout's runner, which needs a running operator)."""
    settings = operator_settings()
    ran: list[str] = []

    async def finalize(**_: Any) -> None:
        ran.append("finalize")

    [handler] = only_our_change_handlers()._changing.get_resource_handlers(RESOURCE)
    assert handler.fn is rollout_handlers.finalize
    registry = kopf.OperatorRegistry()
    registry._changing.append(dataclasses.replace(handler, fn=finalize))
    patch = process(settings, rollout(phase="Baking", finalizer=True, deleting=True), registry)
    assert ran == ["finalize"]
    assert patch.fns, "the finalizer is removed"
    # kopf's marker comes with the last patch of an object on its way out; nothing else.
    assert written(patch) == {f"{GROUP}/kopf-managed": "yes"}
