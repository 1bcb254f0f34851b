"""The adapter's side of pruning production-check Jobs (``PruneJobs``, ``workloads.prune_jobs``).

What a user checks with ``kubectl get jobs``: after a prune, the Jobs of the
revisions it does not keep are gone (their pods with them: propagation
Background), and nothing else is: not a person's Job, not another rollout's,
not one of a rollout of the same name in another namespace. Doing it again
(a restart, a listing that trails a delete) changes nothing and fails
nothing. The real InfraRollout driver acts on a few dicts (``MemoryApi``) that
ignore the label selector, so the driver's own check is what protects them.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shakedown.adapters.apiserver import ApiError
from shakedown.adapters.infrarollout import InfraRolloutDriver
from shakedown.adapters.wakeups import Wakers
from shakedown.adapters.workloads import Kube
from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus
from shakedown.planning.decision import Decision
from shakedown.planning.infrarollout.actions import PruneJobs
from shakedown.planning.infrarollout.objects import (
    CHECK_LABEL,
    REVISION_LABEL,
    ROLLOUT_LABEL,
    ROLLOUT_NAMESPACE_LABEL,
)
from shakedown.planning.infrarollout.step import Observed
from tests.unit.test_refused_specs import NS, MemoryApi
from tests.unit.test_runner import NOW, run

UID = "u1"
PRUNE = PruneJobs(namespace=NS, rollout="change", uid=UID, keep=frozenset({2}))
SPEC = InfraRolloutSpec.model_validate(
    {
        "targets": [{"kind": "Deployment", "name": "web"}],
        "change": {"images": [{"container": "web", "image": "registry.example/web:2"}]},
        "rollback": {"jobs": [{"name": "selftest"}]},
    }
)


class JobsApi(MemoryApi):
    """Also deletes (404 when gone, 409 when the uid precondition fails) and keeps the
    queries and bodies it was sent; ``stale`` lists what was there at the start."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []
        self.stale: list[dict[str, Any]] | None = None

    def call(self, method: str, path: str, **options: Any) -> Any:
        self.sent.append((method, path, options.get("query") or options.get("body")))
        if method == "GET" and self.stale is not None and path.endswith("/jobs"):
            self.requests.append(f"{method} {path}")
            return {"items": self.stale}
        if method != "DELETE":
            return super().call(method, path, **options)
        self.requests.append(f"{method} {path}")
        if path not in self.objects:
            raise ApiError(404, "Not Found")
        uid = ((options.get("body") or {}).get("preconditions") or {}).get("uid")
        if uid is not None and uid != self.objects[path]["metadata"].get("uid"):
            raise ApiError(409, "Precondition failed: UID in precondition")
        del self.objects[path]
        return {}

    def jobs(self) -> list[str]:
        return sorted(o["metadata"]["name"] for p, o in self.objects.items() if "/jobs/" in p)


def check_job(name: str, revision: int, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {
                ROLLOUT_LABEL: "change",
                ROLLOUT_NAMESPACE_LABEL: NS,
                REVISION_LABEL: str(revision),
                CHECK_LABEL: "selftest",
                **labels,
            },
            "ownerReferences": [{"kind": "InfraRollout", "name": "change", "uid": UID}],
        },
        "status": {"succeeded": 1},
    }


def cluster() -> JobsApi:
    api = JobsApi()
    api.put("Job", check_job("shakedown-change-selftest-r1", 1))
    api.put("Job", check_job("shakedown-change-selftest-r2", 2))
    # A rollout named "change" in namespace staging, another rollout here, a person's Job.
    api.put("Job", check_job("copied-from-staging", 1, **{ROLLOUT_NAMESPACE_LABEL: "staging"}))
    api.put("Job", check_job("shakedown-other-selftest-r1", 1, **{ROLLOUT_LABEL: "other"}))
    api.put("Job", {"metadata": {"name": "nightly-backup", "labels": {"app": "backup"}}})
    return api


def act(api: JobsApi, *actions: PruneJobs) -> None:
    driver = InfraRolloutDriver(Kube(api), NS, "change", Wakers(), clock=lambda: NOW)  # type: ignore[arg-type]
    decision = Decision(status=InfraRolloutStatus(), actions=actions)
    observed = Observed(name="change", namespace=NS, uid=UID)

    async def acting() -> None:
        await driver.act({}, SPEC, observed, decision, lambda _: None)

    run(acting())


def test_only_this_rollouts_jobs_of_revisions_not_kept_are_deleted_with_their_pods() -> None:
    api = cluster()
    act(api, PRUNE)
    assert api.jobs() == [
        "copied-from-staging",
        "nightly-backup",
        "shakedown-change-selftest-r2",
        "shakedown-other-selftest-r1",
    ]
    deletes = [(path, body) for method, path, body in api.sent if method == "DELETE"]
    assert deletes == [
        (
            f"/apis/batch/v1/namespaces/{NS}/jobs/shakedown-change-selftest-r1",
            {
                "propagationPolicy": "Background",
                "preconditions": {"uid": "uid-shakedown-change-selftest-r1"},
            },
        )
    ]
    (listed,) = [query for method, path, query in api.sent if method == "GET"]
    selector = listed["labelSelector"].split(",")
    assert f"{ROLLOUT_LABEL}=change" in selector and f"{ROLLOUT_NAMESPACE_LABEL}={NS}" in selector


def test_pruning_again_after_a_crash_or_from_a_stale_listing_changes_nothing() -> None:
    api = cluster()
    before = [o["metadata"] for o in api.objects.values()]
    api.stale = [{"metadata": dict(meta)} for meta in before]
    act(api, PRUNE)
    act(api, PRUNE)  # the listing still shows the deleted Job: its delete finds it gone (404)
    assert "shakedown-change-selftest-r1" not in api.jobs()
    assert len(api.jobs()) == 4


def test_a_job_recreated_under_an_old_name_is_not_deleted_by_a_stale_listing() -> None:
    api = cluster()
    api.stale = [{"metadata": dict(o["metadata"])} for o in api.objects.values()]
    path = f"/apis/batch/v1/namespaces/{NS}/jobs/shakedown-change-selftest-r1"
    api.objects[path]["metadata"]["uid"] = "someone-elses"  # deleted and made again meanwhile
    act(api, PRUNE)
    assert "shakedown-change-selftest-r1" in api.jobs()


def test_a_prune_the_api_server_refuses_is_logged_not_a_failed_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Forbidden(JobsApi):
        def call(self, method: str, path: str, **options: Any) -> Any:
            if path.endswith("/jobs"):
                raise ApiError(403, "jobs.batch is forbidden")
            return super().call(method, path, **options)

    api = Forbidden()
    api.put("Job", check_job("shakedown-change-selftest-r1", 1))
    with caplog.at_level(logging.WARNING, logger="shakedown.infrarollout"):
        act(api, PRUNE)
    assert api.jobs() == ["shakedown-change-selftest-r1"]
    assert "cannot prune old check Jobs" in caplog.text and "forbidden" in caplog.text
