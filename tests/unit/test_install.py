"""The Helm chart and the plain manifests grant the same permissions.

The fast version of tests/cluster/test_chart.py (which renders the chart with a
real helm): the chart's RBAC rules are plain YAML inside the templates, and this
test keeps them equal to manifests/10-rbac.yaml (which a cluster test proves
sufficient).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "shakedown"

Triple = tuple[str, str, str]


def triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def manifest_rules() -> set[Triple]:
    docs = yaml.safe_load_all((REPO / "manifests" / "10-rbac.yaml").read_text())
    role = next(d for d in docs if d["metadata"]["name"] == "shakedown-operator")
    return triples(role["rules"])


def chart_rules() -> set[Triple]:
    rbac = (CHART / "templates" / "rbac.yaml").read_text()
    cluster = re.search(r"rules:\n(.*?)\{\{- if not", rbac, re.S)
    assert cluster, "cluster-scoped rules are missing from rbac.yaml"
    return (
        helper_rules("shakedown.rules")
        | helper_rules("shakedown.shadowRules")
        | triples(yaml.safe_load(cluster.group(1)))
    )


def helper_rules(name: str) -> set[Triple]:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = re.search(rf'define "{re.escape(name)}" -}}}}\n(.*?)\{{\{{- end', helpers, re.S)
    assert block, f"{name} is missing from _helpers.tpl"
    return triples(yaml.safe_load(block.group(1)))


def test_chart_and_manifests_grant_the_same() -> None:
    chart, manifests = chart_rules(), manifest_rules()
    assert chart - manifests == set(), "only in the chart"
    assert manifests - chart == set(), "only in manifests/"


def test_status_is_written_through_the_subresource_only() -> None:
    rules = manifest_rules()
    assert ("shakedown.dev", "containerimagerefreshes/status", "patch") in rules
    assert ("shakedown.dev", "infrarollouts", "create") not in rules, "never creates its own CRs"
    assert not any(verb == "*" or resource == "*" for _, resource, verb in rules)


def test_no_verb_the_code_does_not_use() -> None:
    """Reported unused: ServiceAccounts at all, watching Secrets, patching most things."""
    rules = manifest_rules()
    assert not [r for r in rules if r[1] == "serviceaccounts"]
    assert not [r for r in rules if r[1] == "replicasets"]
    assert ("", "secrets", "watch") not in rules
    assert not [
        r
        for r in rules
        if r[2] in ("deletecollection", "escalate", "bind") and r[0] != "shakedown.dev"
    ]
    # patch: server-side apply of what the operator writes (targets, and in shadows the
    # copies, the NetworkPolicy and the quota objects), and the strategic-patch dry run.
    applied = {"deployments", "statefulsets", "daemonsets", "services", "configmaps", "secrets"}
    applied |= {"networkpolicies", "resourcequotas", "limitranges"}
    patched = {r for g, r, v in rules if v == "patch" and g != "shakedown.dev"}
    assert patched == applied
    assert {v for g, r, v in rules if r == "leases"} == {"get", "list", "watch", "create", "delete"}
    assert {v for g, r, v in rules if r == "namespaces"} == {
        "get",
        "list",
        "watch",
        "create",
        "delete",
    }


def test_shadows_get_no_locks_and_no_deletes() -> None:
    shadow = helper_rules("shakedown.shadowRules")
    assert not [r for r in shadow if r[1] == "leases" or r[0] == "shakedown.dev"]
    assert not [r for r in shadow if r[2] == "delete"], "a shadow goes as a whole"


def test_the_scope_policy_names_the_service_account_and_both_labels() -> None:
    docs = list(yaml.safe_load_all((REPO / "manifests" / "15-scope-policy.yaml").read_text()))
    policy, binding = docs
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    (condition,) = policy["spec"]["matchConditions"]
    assert "system:serviceaccount:shakedown-system:shakedown" in condition["expression"]
    text = yaml.safe_dump(policy["spec"])
    assert "shakedown.dev/watched" in text and "shakedown.dev/shadow" in text
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_chart_crds_and_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["watchNamespaces"] == []
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "shakedown"
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )


def manifest_leader_role() -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO / "manifests" / "10-rbac.yaml").read_text())
    return next(d for d in docs if d["kind"] == "Role")


def test_leader_election_may_write_one_lease_in_its_own_namespace_only() -> None:
    role = manifest_leader_role()
    assert role["metadata"]["namespace"] == "shakedown-system"
    assert {(r.get("resourceNames", [None])[0], v) for r in role["rules"] for v in r["verbs"]} == {
        (None, "create"),  # create cannot name its object; the scope policy does
        ("shakedown-leader", "get"),
        ("shakedown-leader", "list"),
        ("shakedown-leader", "watch"),
        ("shakedown-leader", "update"),
    }
    deployment = next(
        d
        for d in yaml.safe_load_all((REPO / "manifests" / "20-deployment.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    assert (
        "--leader-election-name=shakedown-leader"
        in (deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    )
    policy = (REPO / "manifests" / "15-scope-policy.yaml").read_text()
    assert 'request.name == "shakedown-leader"' in policy


def test_chart_leader_election_role_is_the_manifests_one() -> None:
    template = (CHART / "templates" / "leader-election.yaml").read_text()
    rules = re.search(r"rules:\n(.*?)---", template, re.S)
    assert rules, "the Role's rules are missing from leader-election.yaml"
    text = rules.group(1).replace('{{ include "shakedown.leaseName" . }}', "shakedown-leader")
    assert yaml.safe_load(text) == manifest_leader_role()["rules"]


def manifest_role(name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO / "manifests" / "10-rbac.yaml").read_text())
    return next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == name)


def test_the_selftest_may_create_and_delete_its_probe_in_its_own_namespace_only() -> None:
    role = manifest_role("shakedown-selftest")
    assert role["metadata"]["namespace"] == "shakedown-system"
    assert role["rules"] == [
        {
            "apiGroups": ["shakedown.dev"],
            "resources": ["containerimagerefreshes"],
            "verbs": ["create", "delete"],
        }
    ]
    template = (CHART / "templates" / "selftest-rbac.yaml").read_text()
    rules = re.search(r"rules:\n(.*?)---", template, re.S)
    assert rules, "the Role's rules are missing from selftest-rbac.yaml"
    assert yaml.safe_load(rules.group(1)) == role["rules"]
