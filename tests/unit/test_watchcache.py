"""The watch-fed caches answer settled objects' reads, and only once they have listed."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from shakedown.adapters import workloads
from shakedown.adapters.apiserver import Connection
from shakedown.adapters.watchcache import Cache
from shakedown.adapters.workloads import Kube

LEASE = {
    "metadata": {
        "name": "lock-deployment-web",
        "namespace": "prod",
        "labels": {"app.kubernetes.io/managed-by": "shakedown"},
        "managedFields": [{"manager": "shakedown", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"holderIdentity": "prod/rollout/uid"},
}


class Lister:
    """A connection whose every GET is one list of ``items`` (and records what was asked)."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = list(items)
        self.calls: list[tuple[str, Mapping[str, str] | None]] = []

    def call(self, method: str, path: str, *, query: Mapping[str, str] | None = None) -> Any:
        self.calls.append((path, query))
        return {"metadata": {"resourceVersion": "7"}, "items": self.items}


PATH = "/apis/coordination.k8s.io/v1/leases"


def listing(*items: dict[str, Any]) -> Connection:
    return cast(Connection, Lister(*items))


def listed(cache: Cache) -> None:
    """The cache's list arrived (its follow's first event; the watch is not started)."""
    events = cache.follow.events()
    assert next(events)[0] == "LISTED"
    events.close()


class CountingKube(Kube):
    """Counts the reads that reach the API server."""

    def __init__(self, caches: Any) -> None:
        super().__init__(conn=None, caches=caches)  # type: ignore[arg-type]
        self.reads: list[tuple[str, str | None, str]] = []

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.reads.append((kind, namespace, name))
        return None


def test_a_cache_answers_from_its_list_without_field_owners() -> None:
    cache = Cache("leases", listing(LEASE), PATH, "app.kubernetes.io/managed-by=shakedown")
    assert not cache.synced
    listed(cache)
    assert cache.synced
    asked = cast(Lister, cache.follow.conn).calls
    assert asked == [(PATH, {"labelSelector": "app.kubernetes.io/managed-by=shakedown"})]
    kept = cache.get("prod", "lock-deployment-web")
    assert kept is not None and kept["spec"] == {"holderIdentity": "prod/rollout/uid"}
    assert "managedFields" not in kept["metadata"]
    assert cache.get("prod", "other") is None
    assert cache.any_labelled("prod", "app.kubernetes.io/managed-by", "shakedown")
    assert not cache.any_labelled("staging", "app.kubernetes.io/managed-by", "shakedown")


def test_a_settled_rollout_reads_its_lock_from_the_cache_once_it_has_listed() -> None:
    cache = Cache("leases", listing(LEASE), PATH, "app.kubernetes.io/managed-by=shakedown")
    kube = CountingKube(SimpleNamespace(leases=cache))
    # Not listed yet: read directly, as before.
    assert workloads.lease_holder(kube, "prod", "lock-deployment-web", cached=True) is None
    assert kube.reads == [("Lease", "prod", "lock-deployment-web")]
    listed(cache)
    holder = workloads.lease_holder(kube, "prod", "lock-deployment-web", cached=True)
    assert holder == "prod/rollout/uid"
    assert len(kube.reads) == 1, "answered from the cache"
    # A rollout in flight still reads the API server.
    workloads.lease_holder(kube, "prod", "lock-deployment-web")
    assert len(kube.reads) == 2


def test_a_cache_its_credentials_may_not_list_everywhere_never_lists() -> None:
    """A namespaced install: no cluster-wide list is tried (RBAC would refuse it)."""
    conn = Lister(LEASE)
    cache = Cache(
        "leases",
        cast(Connection, conn),
        PATH,
        "app.kubernetes.io/managed-by=shakedown",
        lambda: False,
    )
    cache._run()  # returns at once
    assert conn.calls == [] and not cache.synced


def test_a_failed_access_review_reads_directly() -> None:
    def refused() -> bool:
        raise OSError("connection refused")

    cache = Cache("leases", listing(LEASE), PATH, "x=y", refused)
    cache._run()
    assert not cache.synced
