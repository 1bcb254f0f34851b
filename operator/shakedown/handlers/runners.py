"""The one registry of per-object runtime state, kept in kopf's memo.

Each InfraRollout and ContainerImageRefresh has one ``Runner``
(``adapters.runner``), shared by its daemon, its finalizer and the watch
handlers that wake it. They all find it in ``Runners``, made once at startup
and put in the operator's memo: kopf hands every handler a shallow copy of
that memo, so they all see the same registry, and nothing lives in module
globals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import kopf

from shakedown.adapters import kubeclient
from shakedown.adapters.runner import Driver, Runner, Runners, Stopping
from shakedown.adapters.wakeups import Key, Wakers
from shakedown.adapters.workloads import Kube
from shakedown.planning.decision import EventNote

#: Where the registry sits in kopf's memo.
MEMO_KEY = "shakedown_runners"

AnyRunner = Runner[Any, Any, Any, Any]
AnyDriver = Driver[Any, Any, Any, Any]


@kopf.on.startup()
def make_registry(memo: kopf.Memo, **_: Any) -> None:
    """One registry for the operator's lifetime, before any object is seen."""
    memo[MEMO_KEY] = Runners()


def registry(memo: Mapping[str, Any]) -> Runners:
    found = memo.get(MEMO_KEY)
    if not isinstance(found, Runners):
        raise RuntimeError("the runner registry is made at startup; it is missing from the memo")
    return found


def wakers(memo: Mapping[str, Any]) -> Wakers:
    return registry(memo).wakers


def wake(memo: Mapping[str, Any], kind: str, namespace: str | None, name: str | None) -> None:
    """Wake the runner of one object (kopf gives cluster-scoped names as None)."""
    wakers(memo).wake((kind, namespace or "default", name or ""))


def maker(build: Callable[[Kube, Wakers], AnyDriver]) -> Callable[[Wakers], AnyRunner]:
    """How to make an object's runner the first time a handler needs it, from its driver.

    The client is made then, not at import, so importing the handlers needs no cluster.
    """

    def make(wakers: Wakers) -> AnyRunner:
        return Runner(build(Kube(kubeclient.api_client()), wakers), wakers)

    return make


def runner(memo: Mapping[str, Any], key: Key, make: Callable[[Wakers], AnyRunner]) -> AnyRunner:
    return registry(memo).get(key, make)


async def drive(
    memo: Mapping[str, Any], key: Key, make: Callable[[Wakers], AnyRunner], stopped: Stopping
) -> None:
    """A daemon's body: run the object's runner; forget it once the object is gone."""
    if await runner(memo, key, make).run(stopped):
        registry(memo).forget(key)


def post_event(body: Mapping[str, Any], note: EventNote) -> None:
    kopf.event(cast(kopf.Body, body), type=note.type, reason=note.reason, message=note.message)
