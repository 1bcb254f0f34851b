"""The Helm chart, rendered by a real helm (built from the pinned module in hack/helm).

It lints; it renders the same permissions and the same restricted pod as
manifests/ (which other tests prove sufficient and admitted); the namespaced
mode renders Roles only where asked; the alert rules and the dashboard render
when enabled; and the API server accepts every rendered object (dry run).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from shakedown.adapters import kubeclient

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"
MODULE = REPO / "hack" / "helm"
CACHE = Path.home() / ".cache" / "shakedown" / "bin" / "helm"
HELM_VERSION = "v3.18.6"

Triple = tuple[str, str, str]


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("no Go toolchain: needed once to build helm from hack/helm", pytrace=False)
    return go


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary, built once per hack/helm inputs (cached under ~/.cache/shakedown)."""
    stamp = hashlib.sha256(
        b"".join((MODULE / name).read_bytes() for name in ("go.mod", "go.sum", "tools.go"))
    ).hexdigest()[:16]
    out = CACHE / stamp / "helm"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
            result = subprocess.run(
                [
                    *(_go(), "build", "-mod=readonly", "-trimpath", f"-ldflags={ldflags}"),
                    *("-o", str(tmp), "helm.sh/helm/v3/cmd/helm"),
                ],
                cwd=MODULE,
                env={**os.environ, "CGO_ENABLED": "0"},
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if result.returncode != 0:
                pytest.fail(f"building helm failed:\n{result.stderr[-3000:]}", pytrace=False)
            tmp.rename(out)
    return out


def render(helm: Path, *args: str, namespace: str = "shakedown-system") -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(helm), "template", "t", str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((REPO / "manifests").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, [(d["kind"], d["metadata"]["name"]) for d in docs]
    return found[0]


def test_chart_lints(helm: Path) -> None:
    result = subprocess.run(
        [str(helm), "lint", str(CHART)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_default_render_matches_the_manifests(helm: Path) -> None:
    docs = render(helm)
    plain = manifests()
    rules = triples(one(docs, "ClusterRole", "t-shakedown-cluster")["rules"])
    assert rules == triples(one(plain, "ClusterRole", "shakedown-operator")["rules"])
    # Two Roles: leader election's, for the release's Lease (t-shakedown-leader here),
    # and the selftest's (its probe object), both in the release namespace.
    assert sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Role") == [
        "t-shakedown-leader-election",
        "t-shakedown-selftest",
    ]
    selftest = one(docs, "Role", "t-shakedown-selftest")
    assert selftest["metadata"]["namespace"] == "shakedown-system"
    assert selftest["rules"] == one(plain, "Role", "shakedown-selftest")["rules"]
    role = one(docs, "Role", "t-shakedown-leader-election")
    assert role["metadata"]["namespace"] == "shakedown-system"
    lease = "t-shakedown-leader"
    assert (
        json.loads(json.dumps(role["rules"]).replace(lease, "shakedown-leader"))
        == (one(plain, "Role", "shakedown-leader-election")["rules"])
    )
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    plain_pod = one(plain, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == plain_pod["securityContext"]
    container, plain_container = pod["containers"][0], plain_pod["containers"][0]
    assert container["securityContext"] == plain_container["securityContext"]
    assert [a.replace(lease, "shakedown-leader") for a in container["args"]] == (
        plain_container["args"]
    )
    assert (
        one(docs, "Deployment")["spec"]["replicas"] == one(plain, "Deployment")["spec"]["replicas"]
    )
    assert pod["affinity"]["podAntiAffinity"] and plain_pod["affinity"]["podAntiAffinity"]
    assert container["image"] == plain_container["image"]
    binding = one(docs, "ClusterRoleBinding", "t-shakedown-cluster")
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"] == "t-shakedown"
    # The same scope policy, for the chart's ServiceAccount.
    policy, plain_policy = (
        one(docs, "ValidatingAdmissionPolicy"),
        one(plain, "ValidatingAdmissionPolicy"),
    )
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"].endswith('"system:serviceaccount:shakedown-system:t-shakedown"')
    (plain_condition,) = plain_policy["spec"]["matchConditions"]
    assert plain_condition["expression"].endswith(
        '"system:serviceaccount:shakedown-system:shakedown"'
    )
    policy = json.loads(json.dumps(policy).replace(lease, "shakedown-leader"))
    assert {**policy["spec"], "matchConditions": []} == {
        **plain_policy["spec"],
        "matchConditions": [],
    }
    assert one(docs, "ValidatingAdmissionPolicyBinding")["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }


def test_namespaced_mode_renders_roles_only_where_asked(helm: Path) -> None:
    docs = render(helm, "--set", "watchNamespaces={ci,infra}")
    cluster_rules = triples(one(docs, "ClusterRole", "t-shakedown-cluster")["rules"])
    assert {r for _, r, _ in cluster_rules} == {"customresourcedefinitions", "namespaces"}
    roles = [
        d
        for d in docs
        if d["kind"] == "Role" and not d["metadata"]["name"].endswith(("-election", "-selftest"))
    ]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ci", "infra"]
    shadow_rules = triples(one(docs, "ClusterRole", "t-shakedown-shadow")["rules"])
    assert not {r for r in shadow_rules if r[1] == "leases" or r[0] == "shakedown.dev"}
    everything = triples(one(manifests(), "ClusterRole", "shakedown-operator")["rules"])
    for role in roles:
        assert triples(role["rules"]) | cluster_rules | shadow_rules == everything
    policy = one(docs, "ValidatingAdmissionPolicy")
    watched = next(v for v in policy["spec"]["variables"] if v["name"] == "watched")
    assert watched["expression"].endswith('in ["ci","infra"]'), watched
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ci" in args and "--namespace=infra" in args
    assert "--all-namespaces" not in args


def test_alert_rules_and_dashboard_render_when_enabled(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.prometheusRule.additionalLabels.release=prometheus",
    )
    rule = one(docs, "PrometheusRule")
    # The very rules promtool tests (tests/unit/test_alerts.py), unchanged.
    assert rule["spec"] == yaml.safe_load((CHART / "rules" / "shakedown.rules.yaml").read_text())
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = [r["alert"] for r in rule["spec"]["groups"][0]["rules"] if "alert" in r]
    assert "ShakedownObjectStalled" in alerts and "ShakedownRollbacks" in alerts
    dashboard = one(docs, "ConfigMap", "t-shakedown-dashboard")
    assert json.loads(dashboard["data"]["shakedown.json"]) == json.loads(
        (CHART / "dashboards" / "shakedown.json").read_text()
    )


def test_service_monitor_keeps_the_object_namespace_label(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.additionalLabels.release=prometheus",
    )
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert [e["honorLabels"] for e in monitor["spec"]["endpoints"]] == [True]
    service = one(docs, "Service", "t-shakedown-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


@pytest.fixture
def scratch_namespace(k8s_api: ApiClient) -> Iterator[str]:
    core = kubeclient.core(k8s_api)
    name = f"sdchart-{hashlib.sha256(os.urandom(8)).hexdigest()[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            core.delete_namespace(name)


def test_the_api_server_accepts_every_rendered_object(
    helm: Path, k8s_api: ApiClient, scratch_namespace: str
) -> None:
    dyn: Any = kubeclient.dynamic(k8s_api)
    docs = render(helm, "--include-crds", namespace=scratch_namespace)
    kinds = set()
    for doc in docs:
        resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        namespace = scratch_namespace if resource.namespaced else None
        # Server-side apply, dry run: validated and admitted, nothing stored (the CRDs
        # already exist, so a create would only say so).
        resource.server_side_apply(
            body=doc,
            name=doc["metadata"]["name"],
            namespace=namespace,
            field_manager="shakedown-chart-test",
            force_conflicts=True,
            dry_run="All",
        )
        kinds.add(doc["kind"])
    assert {"CustomResourceDefinition", "ClusterRole", "Deployment", "Service"} <= kinds


def test_invalid_values_are_refused_naming_the_key(
    helm: Path, kubeconfig: Path, tmp_path: Path
) -> None:
    """A real helm install against the cluster: refused before anything is created."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        **{f"HELM_{d}_HOME": str(tmp_path / d.lower()) for d in ("CACHE", "CONFIG", "DATA")},
    }
    release = f"sdbad-{hashlib.sha256(os.urandom(8)).hexdigest()[:6]}"
    for setting, named in (
        ("replicas=abc", "/replicas"),
        ("logLevel=loud", "/logLevel"),
        ("metrics.port=0", "/metrics/port"),
        ("imageTag=v2", "imageTag"),  # a typo of image.tag is not silently ignored
    ):
        result = subprocess.run(
            [str(helm), "install", release, str(CHART), "-n", "default", "--set", setting],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode != 0, setting
        assert "values don't meet the specifications of the schema" in result.stderr
        assert named in result.stderr, result.stderr
    status = subprocess.run(
        [str(helm), "status", release, "-n", "default"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "release: not found" in status.stderr, status.stdout + status.stderr


def test_the_disruption_budget_comes_with_more_than_one_replica(helm: Path) -> None:
    assert not [
        d for d in render(helm, "--set", "replicas=1") if d["kind"] == "PodDisruptionBudget"
    ]
    docs = render(helm)  # two replicas by default
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )
    docs = render(helm, "--set", "replicas=3,podDisruptionBudget.minAvailable=50%")
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == "50%"


def test_the_crd_hook_runs_the_new_operator_image_before_an_upgrade(helm: Path) -> None:
    docs = render(helm, "--set", "image.tag=9.9.9")
    job = one(docs, "Job", "t-shakedown-crds")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    operator = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == operator["image"] == "ghcr.io/shakedown-dev/shakedown:9.9.9"
    assert container["args"] == ["crds", "--apply"]
    assert container["securityContext"] == operator["securityContext"]
    role = one(docs, "ClusterRole", "t-shakedown-crds")
    assert triples(role["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions", verb)
        for verb in ("create", "get", "update")
    }
    names = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert names == {
        p.name.removeprefix("shakedown.dev_").removesuffix(".yaml") + ".shakedown.dev"
        for p in (CHART / "crds").glob("*.yaml")
    }
    hooks = [d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    assert sorted(d["kind"] for d in hooks) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Job",
        "ServiceAccount",
    ]
    assert not [d for d in render(helm, "--set", "crds.upgrade=false") if d["kind"] == "Job"]
