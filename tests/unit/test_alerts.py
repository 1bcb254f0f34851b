"""The alert rules (charts/shakedown/rules/shakedown.rules.yaml) do what they say.

``promtool test rules`` runs tests/unit/alerts.test.yaml against the very file
the chart embeds: each alert fires on the series it is about and stays quiet on
look-alikes. This module also checks that no alert goes untested and that the
rules only name metrics the operator exports.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.promql import RULES, metric_names, operator_metric_names, promtool

TESTS = Path(__file__).with_name("alerts.test.yaml")


@pytest.fixture(scope="module")
def tool() -> str:
    return promtool()


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules(tool: str) -> None:
    result = run(tool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect(tool: str) -> None:
    result = run(tool, "test", "rules", str(TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = [
        case
        for test in yaml.safe_load(TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert alerts(), "no alert rules found"
    for alert in alerts():
        assert alert in firing, f"{alert}: no promtool case where it fires"
        assert alert in quiet, f"{alert}: no promtool case where it must not fire"


def test_rules_name_only_metrics_the_operator_exports() -> None:
    exported = operator_metric_names()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule.get('alert') or rule.get('record')}: names no metric"
        unknown = names - exported - recorded
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown {unknown}"
