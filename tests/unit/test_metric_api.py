"""The schema refuses what the operator cannot do, naming the field; MetricTemplates are checked.

SSH git URLs and HTTPS smoke checks are refused up front (pydantic here, the
same rules as CEL/enum in the CRD, proven on the API server by the cluster CRD
tests); a metric check takes its query from exactly one place, and one that
names a missing MetricTemplate is reported at its field path.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.api.infrarollout import InfraRolloutSpec, MetricCheck
from shakedown.api.metrictemplate import MetricTemplateSpec
from shakedown.planning.validation import check_metric_templates, template_refs
from tests.unit.test_models import cir_spec, iro_spec

PROM = {"address": "http://prometheus:9090", "query": "up"}


@pytest.mark.parametrize(
    "url",
    ["ssh://git@example.com/org/repo.git", "git@github.com:org/repo.git", "me@host:repo"],
)
def test_ssh_git_urls_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationError, match=r"source\.git\.url: SSH URLs"):
        ContainerImageRefreshSpec.model_validate(cir_spec(source={"git": {"url": url}}))


@pytest.mark.parametrize(
    "url", ["https://example.com/org/repo.git", "git://example/repo", "http://10.0.0.5/r.git"]
)
def test_other_git_urls_are_accepted(url: str) -> None:
    ContainerImageRefreshSpec.model_validate(cir_spec(source={"git": {"url": url}}))


def test_https_smoke_checks_are_refused() -> None:
    http = {"name": "home", "service": "web", "port": 443, "scheme": "HTTPS"}
    with pytest.raises(ValidationError, match=r"scheme"):
        InfraRolloutSpec.model_validate(iro_spec(smokeTests={"http": [http]}))


@pytest.mark.parametrize(
    ("metric", "needle"),
    [
        ({"name": "m"}, "exactly one of prometheus or templateRef"),
        (
            {"name": "m", "prometheus": PROM, "templateRef": {"name": "t"}},
            "exactly one of prometheus or templateRef",
        ),
        ({"name": "m", "prometheus": PROM}, "successCondition is required"),
        (
            {"name": "m", "prometheus": PROM, "successCondition": "result < 1 +"},
            "successCondition",
        ),
    ],
)
def test_metric_checks_take_their_query_from_one_place(metric: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        MetricCheck.model_validate(metric)


def test_a_metric_check_may_name_a_template_alone() -> None:
    check = MetricCheck.model_validate({"name": "m", "templateRef": {"name": "errors"}})
    assert check.success_condition is None and check.prometheus is None


def test_a_template_needs_query_and_condition() -> None:
    spec = MetricTemplateSpec.model_validate(
        {
            "prometheus": {
                **PROM,
                "secretRef": {"name": "c"},
                "headers": [{"name": "X-A", "value": "1"}],
            },
            "successCondition": "result[0] < 0.05",
        }
    )
    assert spec.prometheus.secret_ref is not None
    with pytest.raises(ValidationError, match="successCondition"):
        MetricTemplateSpec.model_validate({"prometheus": PROM})


def test_missing_templates_are_named_by_field_path() -> None:
    ref = {"name": "m", "templateRef": {"name": "errors"}}
    spec = InfraRolloutSpec.model_validate(
        iro_spec(smokeTests={"metrics": [ref]}, rollback={"metrics": [ref]})
    )
    assert template_refs(spec) == [
        ("spec.smokeTests.metrics[0].templateRef.name", "errors"),
        ("spec.rollback.metrics[0].templateRef.name", "errors"),
    ]
    assert check_metric_templates(spec, {"errors"}) == ()
    problems = check_metric_templates(spec, set())
    assert [p.field for p in problems] == [
        "spec.smokeTests.metrics[0].templateRef.name",
        "spec.rollback.metrics[0].templateRef.name",
    ]
    assert "MetricTemplate 'errors' not found" in problems[0].message
