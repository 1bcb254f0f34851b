"""The Grafana dashboard the chart ships (charts/shakedown/dashboards/shakedown.json).

What a user would find broken on import: JSON that does not load, a panel whose
query names a metric the operator does not export (an empty panel forever) or
does not parse, a panel without a unit, a variable no panel uses, or panels that
do not follow the namespace and name variables.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.promql import DASHBOARD, metric_names, operator_metric_names, promtool

#: What Grafana puts in place of its built-in interval variables, for promtool.
BUILTINS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def variables() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard()["templating"]["list"]
    return found


def exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


def uses(text: str, variable: str) -> bool:
    return re.search(rf"\$\{{?{re.escape(variable)}(?![\w])", text) is not None


def test_the_dashboard_is_json_with_panels_and_unique_ids() -> None:
    document = dashboard()
    assert document["uid"] == "shakedown" and document["title"]
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids)), ids
    assert panels()


def test_every_panel_query_names_metrics_the_operator_exports() -> None:
    exported = operator_metric_names()
    for panel in panels():
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} names no metric"
            unknown = names - exported
            assert not unknown, f"{panel['title']}: unknown metrics {unknown}"


def test_every_variable_query_names_an_exported_metric() -> None:
    exported = operator_metric_names()
    for variable in variables():
        if variable["type"] != "query":
            continue
        inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"])
        assert inner, f"${variable['name']}: not label_values(selector, label)"
        assert metric_names(inner.group(1)) <= exported, variable["query"]


def test_every_panel_has_a_unit_and_the_datasource_variable() -> None:
    for panel in panels():
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit, f"{panel['title']}: no unit"
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_variable_is_used_by_a_panel() -> None:
    text = json.dumps(panels())
    for variable in variables():
        assert uses(text, variable["name"]), f"${variable['name']} is used by no panel"


def test_per_object_panels_follow_the_namespace_and_name_variables() -> None:
    for title, expr in exprs():
        if "shakedown_infrarollout_" in expr or "shakedown_imagerefresh_" in expr:
            assert uses(expr, "namespace") and uses(expr, "name"), f"{title}: {expr}"


@pytest.fixture(scope="module")
def tool() -> str:
    return promtool()


def test_every_panel_query_parses(tool: str, tmp_path: Path) -> None:
    rules = []
    for index, (title, expr) in enumerate(exprs()):
        for builtin, value in BUILTINS.items():
            expr = expr.replace(builtin, value)
        expr = re.sub(r"\$\{?\w+\}?", ".*", expr)  # the template variables are regexes
        rules.append(
            {"record": f"dashboard:panel_{index}", "expr": expr, "labels": {"panel": title}}
        )
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
