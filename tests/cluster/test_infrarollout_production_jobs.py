"""rollback.jobs: a test Job in production, once it runs the change, decides the rollout.

The sample web service rolls a configuration change by Canary (one new pod
of two, then a short pause). A Job in production that fails rolls it back
from its canary; one that passes, though it runs longer than the pause, holds
the promotion until it has passed, and the rollout succeeds. As a revision
ends, the rollout's Jobs of revisions its history no longer lists are deleted,
and nobody else's.
"""

from __future__ import annotations

from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from shakedown.planning.infrarollout.objects import (
    CHECK_LABEL,
    REVISION_LABEL,
    ROLLOUT_LABEL,
    ROLLOUT_NAMESPACE_LABEL,
)
from tests.fixtures.infrarollout import (
    Operator,
    config_data,
    deployment_ready,
    rollout,
    status,
    wait_for,
    wait_phase,
    workload,
)

# The cluster's CRDs are shared: another session may have installed older ones
# (without rollback.jobs, which the API server would prune) since ours started.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]

CANARY = {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"pause": "2s"}]}}


def canary_with_job(kube: Kube, ns: str, job: dict[str, Any]) -> None:
    rollback = {"automatic": True, "notReadyFor": "5s", "maxRestarts": 2, "jobs": [job]}
    rollout(kube, ns, strategy=CANARY, http=False, bake="3s", extra={"rollback": rollback})


def test_a_failing_production_job_rolls_the_canary_back(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    job = {
        "name": "selftest",
        "image": busybox_image,
        "command": ["sh", "-c", "echo the candidate reconciled nothing; exit 1"],
        "timeout": "1m",
    }
    canary_with_job(kube, ns, job)
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=240)
    assert final["phase"] == "RolledBack", final
    reason = final["rollbackReason"]
    assert reason.startswith(
        "JobCheckFailed: production-selftest: Job shakedown-change-selftest-r1"
    )
    assert "the candidate reconciled nothing" in reason
    check = next(c for c in final["checks"] if c["name"] == "production-selftest")
    assert (check["phase"], check["job"]) == ("Failed", "shakedown-change-selftest-r1")
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    wait_for(lambda: deployment_ready(kube, ns, "web"), 90, "web back on v1")
    # The Job ran in production, owned by the rollout (deleted with it).
    made = kube.get("Job", ns, "shakedown-change-selftest-r1")
    assert made is not None
    (owner,) = made["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("InfraRollout", "change")


def test_a_passing_production_job_holds_the_promotion_until_it_passed(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image)
    job = {"name": "selftest", "image": busybox_image, "command": ["sleep", "8"], "timeout": "1m"}
    canary_with_job(kube, ns, job)
    held = wait_for(
        lambda: (status(kube, ns).get("waitingFor") or "").startswith("production checks"),
        180,
        "the promotion held for the production Job",
        seen=lambda: status(kube, ns).get("waitingFor"),
    )
    assert held
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=180)
    assert final["phase"] == "Succeeded", final
    check = next(c for c in final["checks"] if c["name"] == "production-selftest")
    assert check["phase"] == "Passed", check
    assert config_data(kube, ns)["MESSAGE"] == "v2"


def finished_job(
    kube: Kube, ns: str, name: str, image: str, labels: dict[str, str], owner: dict[str, Any]
) -> None:
    """A Job that runs ``true`` (one pod, Completed), with ``labels`` and ``owner``."""
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "test", "image": image, "command": ["true"]}],
    }
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [owner]
    spec = {"backoffLimit": 0, "template": {"metadata": {"labels": labels}, "spec": pod}}
    kube.create("Job", ns, {"metadata": meta, "spec": spec})


def test_as_a_revision_ends_only_its_own_jobs_of_revisions_past_the_history_go(
    iro_operator: Operator, kube: Kube, ns: str, busybox_image: str
) -> None:
    workload(kube, ns, busybox_image, replicas=1)
    job = {"name": "selftest", "image": busybox_image, "command": ["true"], "timeout": "1m"}
    rollback = {"automatic": True, "notReadyFor": "5s", "jobs": [job]}
    rollout(kube, ns, http=False, bake="2s", extra={"rollback": rollback})
    iro = kube.get("InfraRollout", ns, "change")
    assert iro is not None
    owner = {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "InfraRollout",
        "name": "change",
        "uid": iro["metadata"]["uid"],
    }
    ours = {ROLLOUT_LABEL: "change", ROLLOUT_NAMESPACE_LABEL: ns, CHECK_LABEL: "selftest"}
    # As a revision the history has dropped left it; a person's Job; one labelled as
    # a rollout "change" of another namespace.
    old = "shakedown-change-selftest-r0"
    finished_job(kube, ns, old, busybox_image, {**ours, REVISION_LABEL: "0"}, owner)
    finished_job(kube, ns, "nightly-report", busybox_image, {"app": "report"}, {})
    elsewhere = {**ours, ROLLOUT_NAMESPACE_LABEL: "staging", REVISION_LABEL: "0"}
    finished_job(kube, ns, "from-staging", busybox_image, elsewhere, owner)

    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"}, timeout=180)
    assert final["phase"] == "Succeeded", final
    assert [h["revision"] for h in final["history"]] == [1]
    # The prune follows the status write; its log line comes after its last delete.
    said = f"{ns}/change: deleted check Jobs of revisions no longer in the history: "
    line = wait_for(
        lambda: next((x for x in iro_operator.log().splitlines() if said in x), None),
        30,
        "the operator pruning old check Jobs",
    )
    assert line.split(said, 1)[1] == old
    assert kube.get("Job", ns, old) is None
    kept = {j["metadata"]["name"] for j in kube.list("Job", ns)}
    assert kept == {"shakedown-change-selftest-r1", "nightly-report", "from-staging"}
    wait_for(
        lambda: not kube.list("Pod", ns, labels=f"job-name={old}"),
        60,
        "the old Job's pod deleted with it",
        seen=lambda: [
            p["metadata"]["name"] for p in kube.list("Pod", ns, labels=f"job-name={old}")
        ],
    )
