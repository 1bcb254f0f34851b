"""kopf handlers for InfraRollout: wiring only.

- ``drive``: the rollout's own watch events start its ``Runner``
  (``adapters.runner``: admit, observe, plan, record, act) with an
  ``InfraRolloutDriver`` and wake it when the body is new; DELETED stops it.
  The runner judges the spec too: one it cannot act on is reported Stalled
  (InvalidSpec, naming the fields), once per generation.
- ``finalize`` (the finalizer, only on a rollout with a revision in flight:
  ``needs_finalizer``) steps the same runner in deletion mode: roll back a
  rollout that had begun shifting, remove the shadow namespace, release the
  locks. One that never started or has ended deletes at once. This is kopf's
  only change handler for the kind: kopf stores no other bookkeeping on a
  rollout (``handlers.nodiffbase``).
- Watch events on pods, workloads, Jobs and shakedown's lock Leases wake the
  runners in flight that follow that namespace, which is how the bake reacts
  to a pod turning NotReady without a polling loop; an idle rollout sleeps
  through them. A ContainerImageRefresh wakes the rollouts whose ``imageFrom``
  names it.
- a background sweeper deletes shadow namespaces that outlived their TTL or their owner.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf

from shakedown import GROUP, VERSION
from shakedown.adapters.infrarollout import InfraRolloutDriver
from shakedown.adapters.runner import Skipped
from shakedown.adapters.shadow import sweep
from shakedown.adapters.wakeups import Wakers
from shakedown.adapters.workloads import Kube
from shakedown.api import imagerefresh, instances, metrictemplate
from shakedown.api.infrarollout import NAMES
from shakedown.handlers import runners
from shakedown.planning.infrarollout.phases.deletion import needs_finalizer

#: The label on shakedown's own Leases (the locks on production objects).
MANAGED_BY = {"app.kubernetes.io/managed-by": "shakedown"}


def _driver(kube: Kube, wakers: Wakers, namespace: str, name: str) -> InfraRolloutDriver:
    return InfraRolloutDriver(kube, namespace, name, wakers, post_event=runners.post_event)


#: The rollout's own news: start its runner, or wake it when the body is new.
drive = runners.on_own_events(NAMES.plural, NAMES.kind, _driver, handler_id="wake-infrarollout")


def _in_flight(status: kopf.Status, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> bool:
    return needs_finalizer(status) and instances.mine(labels, memo)


@kopf.on.delete(GROUP, VERSION, NAMES.plural, when=_in_flight)
async def finalize(
    name: str, namespace: str | None, logger: kopf.Logger, memo: kopf.Memo, **_: Any
) -> None:
    """Leave production on a consistent revision and remove the shadow namespace."""
    namespace = namespace or "default"
    runner = runners.runner(
        memo, (NAMES.kind, namespace, name), runners.object_maker(memo, _driver, namespace, name)
    )
    while True:
        async with runner.lock:
            result = await runner.step(deleting=True)
        if result is Skipped.WAITING:
            logger.warning("finalized without cleanup: the status does not parse (see Stalled)")
        elif result is Skipped.REFUSED:
            logger.warning("finalized without cleanup: the spec does not parse (see Stalled)")
        if isinstance(result, Skipped) or result.finished:
            break
        if not result.again:
            await asyncio.sleep(0.5)
    runners.registry(memo).forget(runner.key)
    logger.info("finalized: production consistent, shadow removed, locks released")


# --------------------------------------------------------------------------- wake-ups
def _wake(namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    runners.wakers(memo).wake_namespace(namespace)


for _group, _version, _plural in (
    ("", "v1", "pods"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
    ("batch", "v1", "jobs"),
    (GROUP, VERSION, metrictemplate.NAMES.plural),
):
    kopf.on.event(_group, _version, _plural, id=f"wake-infrarollouts-{_plural}")(_wake)

# Only shakedown's own locks: every other Lease (node heartbeats, leader
# elections) is renewed every few seconds and says nothing to a rollout.
kopf.on.event(
    "coordination.k8s.io", "v1", "leases", labels=MANAGED_BY, id="wake-infrarollouts-leases"
)(_wake)


@kopf.on.event(GROUP, VERSION, imagerefresh.NAMES.plural, id="wake-infrarollouts-refreshes")
async def _wake_from_refresh(
    name: str | None, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """Rollouts in flight there, and those whose ``imageFrom`` names this refresh.

    In the event loop, where the kept bodies change (a worker thread reading them
    could meet the registry mid-change)."""
    namespace = namespace or "default"
    runners.wakers(memo).wake_namespace(namespace)
    for key, body in runners.bodies(memo).in_namespace(NAMES.kind, namespace):
        source = ((body.get("spec") or {}).get("imageFrom") or {}).get("containerImageRefresh")
        if source == name:
            runners.wakers(memo).wake(key)


#: How often shadow namespaces are checked for an expired TTL or a vanished owner.
SWEEP_INTERVAL = 60.0


async def _sweep_forever(kube: Kube, logger: kopf.Logger) -> None:
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
    memo["shadow_sweeper"] = asyncio.create_task(_sweep_forever(runners.kube(memo), logger))


@kopf.on.cleanup()
async def stop_sweeper(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("shadow_sweeper")
    if task is not None:
        task.cancel()
