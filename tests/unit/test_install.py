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
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = re.search(r'define "shakedown.rules" -}}\n(.*?)\{\{- end', helpers, re.S)
    assert block, "shakedown.rules is missing from _helpers.tpl"
    namespaced = yaml.safe_load(block.group(1))
    rbac = (CHART / "templates" / "rbac.yaml").read_text()
    cluster = re.search(r"rules:\n(.*?)\{\{- if not", rbac, re.S)
    assert cluster, "cluster-scoped rules are missing from rbac.yaml"
    return triples(namespaced) | triples(yaml.safe_load(cluster.group(1)))


def test_chart_and_manifests_grant_the_same() -> None:
    chart, manifests = chart_rules(), manifest_rules()
    assert chart - manifests == set(), "only in the chart"
    assert manifests - chart == set(), "only in manifests/"


def test_status_is_written_through_the_subresource_only() -> None:
    rules = manifest_rules()
    assert ("shakedown.dev", "containerimagerefreshes/status", "patch") in rules
    assert ("shakedown.dev", "infrarollouts", "create") not in rules, "never creates its own CRs"
    assert not any(verb == "*" or resource == "*" for _, resource, verb in rules)


def test_chart_crds_and_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["watchNamespaces"] == []
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "shakedown"
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )
