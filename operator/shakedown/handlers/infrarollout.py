"""kopf handlers for InfraRollout: wiring only.

- ``reconcile`` (create/update/resume) validates the spec and reports Stalled
  (InvalidSpec, naming the field) when it cannot be acted on; a valid spec
  wakes the rollout's runner, which owns the conditions from then on.
- ``drive`` is a daemon per InfraRollout running ``RolloutRunner`` (observe,
  plan, record, act) until the object goes away.
- ``finalize`` (the finalizer) steps the same runner in deletion mode: roll
  back a rollout that had begun shifting, remove the shadow namespace, release
  the locks.
- Watch events on pods, workloads, Jobs, Leases and ContainerImageRefreshes
  wake the runners of that namespace, which is how the bake reacts to a pod
  turning NotReady without a polling loop.
- a background sweeper deletes shadow namespaces that outlived their TTL or their owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient, metrictemplates, workloads
from shakedown.adapters.infrarollout import WAKERS, RolloutRunner
from shakedown.adapters.shadow import sweep
from shakedown.adapters.workloads import Kube
from shakedown.api.infrarollout import (
    PLURAL,
    InfraRolloutSpec,
    InfraRolloutStatus,
    TargetKind,
)
from shakedown.handlers.reporting import Verdict, report
from shakedown.planning.infrarollout.actions import EventNote
from shakedown.planning.infrarollout.objects import Obj
from shakedown.planning.validation import (
    check_infra_rollout,
    check_metric_templates,
    parse,
    template_refs,
)

#: One runner per InfraRollout, shared by its daemon and its finalizer.
RUNNERS: dict[tuple[str, str], RolloutRunner] = {}


def read_status(raw: Mapping[str, Any] | None) -> InfraRolloutStatus:
    """The stored status; an empty one when there is none (or it does not parse)."""
    try:
        return InfraRolloutStatus.model_validate(dict(raw or {}))
    except ValidationError:
        return InfraRolloutStatus()


def target_containers(
    spec: InfraRolloutSpec, namespace: str, logger: kopf.Logger
) -> Mapping[tuple[TargetKind, str], frozenset[str]] | None:
    """Container names of the workload targets that exist; None when none could be read."""
    try:
        found = workloads.container_names(kubeclient.api_client(), namespace, spec.targets)
    except (ApiException, kubeclient.NoCluster) as exc:
        logger.debug("cannot read targets to check container names: %s", exc)
        return None
    return found or None


def post_event(body: Obj, note: EventNote) -> None:
    kopf.event(
        cast(kopf.Body, body), type=note.type, reason=note.reason, message=note.message[:1000]
    )


def runner_for(namespace: str, name: str) -> RolloutRunner:
    key = (namespace, name)
    runner = RUNNERS.get(key)
    if runner is None:
        runner = RolloutRunner(
            Kube(kubeclient.api_client()), namespace, name, post_event=post_event
        )
        RUNNERS[key] = runner
    return runner


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(
    body: kopf.Body,
    meta: kopf.Meta,
    spec: kopf.Spec,
    name: str | None,
    namespace: str | None,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = meta.get("generation")
    model, problems = parse(InfraRolloutSpec, spec)
    if model is not None:
        containers = target_containers(model, namespace or "default", logger)
        problems = check_infra_rollout(model, containers=containers)
        if template_refs(model):
            kube = Kube(kubeclient.api_client())
            names = metrictemplates.template_names(kube, namespace or "default")
            if names is not None:
                problems += check_metric_templates(model, names)
    if model is None or problems:
        report(
            body=body,
            patch=patch,
            verdict=Verdict.invalid(problems),
            generation=generation,
            logger=logger,
        )
        return
    WAKERS.wake(namespace or "default", name or "")


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=5, cancellation_timeout=10)
async def drive(name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """Run the rollout until the object is deleted or the operator stops."""
    runner = runner_for(namespace or "default", name)

    async def wake_when_stopped() -> None:
        await stopped.wait()
        runner.wake_event.set()  # leave the wait at once instead of being cancelled

    watcher = asyncio.create_task(wake_when_stopped())
    try:
        await runner.run(lambda: bool(stopped))
    finally:
        watcher.cancel()


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def finalize(name: str, namespace: str | None, logger: kopf.Logger, **_: Any) -> None:
    """Leave production on a consistent revision and remove the shadow namespace."""
    namespace = namespace or "default"
    runner = runner_for(namespace, name)
    while True:
        async with runner.lock:
            decision = await runner.step(deleting=True)
        if decision is None or decision.finished:
            break
        if not decision.again:
            await asyncio.sleep(0.5)
    RUNNERS.pop((namespace, name), None)
    logger.info("finalized: production consistent, shadow removed, locks released")


# --------------------------------------------------------------------------- wake-ups
def _wake(namespace: str | None, **_: Any) -> None:
    WAKERS.wake_namespace(namespace)


for _group, _version, _plural in (
    ("", "v1", "pods"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
    ("batch", "v1", "jobs"),
    ("coordination.k8s.io", "v1", "leases"),
    (GROUP, VERSION, "containerimagerefreshes"),
    (GROUP, VERSION, "metrictemplates"),
):
    kopf.on.event(_group, _version, _plural, id=f"wake-infrarollouts-{_plural}")(_wake)


@kopf.on.event(GROUP, VERSION, PLURAL, id="wake-infrarollout")
def _wake_rollout(name: str | None, namespace: str | None, **_: Any) -> None:
    WAKERS.wake(namespace or "", name or "")


#: How often shadow namespaces are checked for an expired TTL or a vanished owner.
SWEEP_INTERVAL = 60.0


async def _sweep_forever(logger: kopf.Logger) -> None:
    kube = Kube(kubeclient.api_client())
    while True:
        try:
            for name in await asyncio.to_thread(sweep, kube, datetime.now(UTC)):
                logger.info("shadow namespace %s deleted (expired or orphaned)", name)
        except Exception as exc:  # the next round tries again
            logger.warning("shadow sweep failed: %s", exc)
        await asyncio.sleep(SWEEP_INTERVAL)


@kopf.on.startup()
async def start_sweeper(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Shadow namespaces past their TTL, or whose InfraRollout is gone, are deleted.

    A plain background task rather than a kopf timer on namespaces: timers put a
    finalizer on their objects, and a shadow namespace must stay deletable even
    when no operator runs.
    """
    memo["shadow_sweeper"] = asyncio.create_task(_sweep_forever(logger))


@kopf.on.cleanup()
async def stop_sweeper(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("shadow_sweeper")
    if task is not None:
        task.cancel()
