"""GitOps with a real Flux: Git holds the InfraRollout, shakedown alone writes production.

Given a Git repository (served by the tests' Git server) whose ``production/``
holds only an InfraRollout with the full manifests of the web service
(``change.manifests``), and Flux's source- and kustomize-controller built from
Go modules applying it with health checks (``wait: true``, kstatus):

- the first commit deploys the service: the targets do not exist yet, shakedown
  proves them in a shadow and creates them; the Kustomization turns Ready;
- a good change is proven and shifted, and the Kustomization is Ready at that
  commit;
- a bad change (pods that turn NotReady during the bake) is rolled back; the
  Kustomization is not Ready and its message names the failing InfraRollout;
  production stays rolled back while Git is ahead, also after Flux applies the
  same commit again;
- throughout, every write to the Deployment is shakedown's (field manager
  ``shakedown``), never Flux's.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from shakedown.adapters.workloads import Kube
from shakedown.demo.infrarollout import index_check, sample_targets, sample_workload
from tests.fixtures.flux import Flux
from tests.fixtures.gitserver import GitRepo, GitServer
from tests.fixtures.infrarollout import Operator, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]

SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")


def infrarollout(image: str, *, message: str, fail_after: int | None = None) -> str:
    """The one object the repository holds for the web service."""
    manifests = sample_workload("web", image, replicas=2, message=message)
    if fail_after is not None:
        manifests[0]["data"]["FAIL_AFTER"] = str(fail_after)
    rollout = {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "InfraRollout",
        "metadata": {"name": "web"},
        "spec": {
            "targets": sample_targets("web"),
            "change": {"manifests": manifests},
            "shadow": {"ttl": "10m", "replicas": 1},
            "smokeTests": {"readyFor": "3s", "http": [index_check("web", message)]},
            "bake": "40s" if fail_after is not None else "5s",
            "rollback": {"notReadyFor": "2s"},
            "timeout": "5m",
        },
    }
    return yaml.safe_dump(rollout, sort_keys=False)


#: kstatus read from the conditions, also for a rollout just created (no status yet:
#: the expressions cannot be evaluated, so Flux keeps waiting), as examples/gitops/ does.
HEALTH_CHECK_EXPRS = [
    {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "InfraRollout",
        "inProgress": "status.conditions.exists(c, c.type == 'Reconciling' && c.status == 'True')",
        "failed": "status.conditions.exists(c, c.type == 'Stalled' && c.status == 'True')",
        "current": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
    }
]

KUSTOMIZATION_FILE = "resources:\n  - infrarollout.yaml\n"


@dataclass
class DeploymentWrites:
    """Every version of the Deployment the API server reported, with who wrote it."""

    api: ApiClient
    namespace: str
    seen: list[tuple[str, int, frozenset[str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        apps = client.AppsV1Api(self.api)
        version = ""
        while not self.stop.is_set():
            try:
                version = self._watch(apps, version)
            except ApiException as exc:
                if exc.status != 410:  # 410: the version expired; list again
                    self.errors.append(str(exc))
                    return
                version = ""

    def _watch(self, apps: Any, version: str) -> str:
        watcher: Any = watch.Watch()  # type: ignore[no-untyped-call]
        stream = watcher.stream(
            apps.list_namespaced_deployment,
            self.namespace,
            field_selector="metadata.name=web",
            resource_version=version or None,
            timeout_seconds=5,
            _request_timeout=10,
        )
        for event in stream:
            obj = event["object"]
            version = obj.metadata.resource_version
            managers = frozenset(
                f"{m.manager}/{m.operation}"
                for m in obj.metadata.managed_fields or []
                if not m.subresource
            )
            self.seen.append((version, obj.metadata.generation or 0, managers))
        return version

    def generations(self) -> list[int]:
        return sorted({generation for _, generation, _ in self.seen})

    def writers(self) -> set[str]:
        return {m for _, _, managers in self.seen for m in managers}


@pytest.fixture
def deployment_writes(k8s_api: ApiClient, ns: str) -> Iterator[DeploymentWrites]:
    writes = DeploymentWrites(k8s_api, ns)
    thread = threading.Thread(target=writes.run, daemon=True)
    thread.start()
    yield writes
    writes.stop.set()
    thread.join(timeout=20)


def _custom(api: ApiClient) -> Any:
    return client.CustomObjectsApi(api)


def flux_objects(api: ApiClient, ns: str, repo: GitRepo) -> None:
    custom = _custom(api)
    group, version, plural = SOURCE
    custom.create_namespaced_custom_object(
        group,
        version,
        ns,
        plural,
        {
            "apiVersion": f"{group}/{version}",
            "kind": "GitRepository",
            "metadata": {"name": "infra"},
            "spec": {"interval": "5s", "url": repo.url, "ref": {"branch": "main"}},
        },
    )
    group, version, plural = KUSTOMIZE
    custom.create_namespaced_custom_object(
        group,
        version,
        ns,
        plural,
        {
            "apiVersion": f"{group}/{version}",
            "kind": "Kustomization",
            "metadata": {"name": "production"},
            "spec": {
                "interval": "1m",
                "retryInterval": "5s",
                "sourceRef": {"kind": "GitRepository", "name": "infra"},
                "path": "./production",
                "prune": True,
                "targetNamespace": ns,
                "wait": True,
                "timeout": "4m",
                "healthCheckExprs": HEALTH_CHECK_EXPRS,
            },
        },
    )


def kustomization(api: ApiClient, ns: str) -> dict[str, Any]:
    group, version, plural = KUSTOMIZE
    obj: dict[str, Any] = _custom(api).get_namespaced_custom_object(
        group, version, ns, plural, "production"
    )
    return obj


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return {}


def wait_kustomization(
    api: ApiClient, ns: str, commit: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The Kustomization once it handled ``commit`` and ``check`` holds for its Ready."""

    def current() -> dict[str, Any] | None:
        obj = kustomization(api, ns)
        status = obj.get("status", {})
        attempted = status.get("lastAttemptedRevision", "")
        if commit in attempted and check(ready(obj)):
            return obj
        return None

    result: dict[str, Any] = wait_for(
        current, 300, what, seen=lambda: kustomization(api, ns).get("status")
    )
    return result


def rollout_status(kube: Kube, ns: str) -> dict[str, Any]:
    return (kube.get("InfraRollout", ns, "web") or {}).get("status") or {}


def reconcile_now(api: ApiClient, ns: str) -> str:
    """Ask Flux to apply the same commit again (``flux reconcile``); the token back."""
    token = datetime.now(UTC).isoformat()
    group, version, plural = KUSTOMIZE
    _custom(api).patch_namespaced_custom_object(
        group,
        version,
        ns,
        plural,
        "production",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}},
    )
    return token


def test_git_drives_rollouts_and_flux_never_writes_production(
    k8s_api: ApiClient,
    kube: Kube,
    ns: str,
    iro_operator: Operator,
    git_server: GitServer,
    flux: Callable[[str], Flux],
    busybox_image: str,
    deployment_writes: DeploymentWrites,
) -> None:
    # Given a repository holding the first version of the web service, and Flux on it
    repo = git_server.create_repo(
        f"infra-{ns}",
        {
            "production/kustomization.yaml": KUSTOMIZATION_FILE,
            "production/infrarollout.yaml": infrarollout(busybox_image, message="v1"),
        },
    )
    first = repo.head()
    running = flux(ns)
    flux_objects(k8s_api, ns, repo)

    # Then the first deployment is proven and creates the targets; Flux is Ready
    try:
        obj = wait_kustomization(
            k8s_api, ns, first, lambda r: r.get("status") == "True", "first commit Ready"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{rollout_status(kube, ns)}\n{running.logs()}") from exc
    assert rollout_status(kube, ns)["phase"] == "Succeeded"
    assert kube.get("Deployment", ns, "web") is not None
    assert first in obj["status"]["lastAppliedRevision"]

    # When a good change is committed
    good = repo.commit(
        {"production/infrarollout.yaml": infrarollout(busybox_image, message="v2")}, "v2"
    )

    # Then shakedown proves and shifts it, and the Kustomization is Ready at that commit
    wait_kustomization(k8s_api, ns, good, lambda r: r.get("status") == "True", "v2 Ready")
    status = rollout_status(kube, ns)
    assert status["phase"] == "Succeeded"
    assert (kube.get("ConfigMap", ns, "web-config") or {})["data"]["MESSAGE"] == "v2"
    revision_good = status["revision"]

    # When a bad change is committed (pods that turn NotReady in production)
    bad = repo.commit(
        {"production/infrarollout.yaml": infrarollout(busybox_image, message="v3", fail_after=12)},
        "v3 (bad)",
    )

    # Then shakedown rolls it back, and Flux's health check names the failing rollout
    obj = wait_kustomization(
        k8s_api,
        ns,
        bad,
        lambda r: r.get("status") == "False" and "InfraRollout" in r.get("message", ""),
        "v3 health check failed",
    )
    message = ready(obj)["message"]
    assert f"InfraRollout/{ns}/web" in message, message
    print(f"[gitops] Kustomization Ready=False: {message}", file=sys.stderr)
    status = rollout_status(kube, ns)
    assert status["phase"] == "RolledBack"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "RolledBack"
    assert conditions["Stalled"]["status"] == "True"
    assert (
        conditions["Ready"]["observedGeneration"]
        == (kube.get("InfraRollout", ns, "web") or {})["metadata"]["generation"]
    )
    assert (kube.get("ConfigMap", ns, "web-config") or {})["data"] == {"MESSAGE": "v2"}

    # And when Flux applies the same commit again, production stays rolled back
    before = kube.get("Deployment", ns, "web") or {}
    token = reconcile_now(k8s_api, ns)
    wait_for(
        lambda: kustomization(k8s_api, ns).get("status", {}).get("lastHandledReconcileAt") == token,
        120,
        "Flux handled the reconcile request",
    )
    after = kube.get("Deployment", ns, "web") or {}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert rollout_status(kube, ns)["phase"] == "RolledBack"
    assert rollout_status(kube, ns)["revision"] == revision_good + 1

    # Throughout, only shakedown (and the cluster's own controllers) wrote the Deployment
    assert deployment_writes.errors == []
    writers = deployment_writes.writers()
    assert "shakedown/Apply" in writers, writers
    assert not {w for w in writers if "kustomize" in w or "flux" in w}, writers
    assert writers <= {"shakedown/Apply", "kube-controller-manager/Update"}, writers
    # created, v2, v3, rollback: one spec write each
    assert deployment_writes.generations() == [1, 2, 3, 4], deployment_writes.seen
    print(
        f"[gitops] Deployment versions seen: {len(deployment_writes.seen)}, writers {writers}",
        file=sys.stderr,
    )
