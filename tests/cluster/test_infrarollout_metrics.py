"""InfraRollout metric smoke checks against a real Prometheus (Debian's package).

Prometheus runs on 127.0.0.1 (the operator queries it from the host) and
scrapes a metrics file this test controls, served over HTTP on loopback. A
query whose value meets ``successCondition`` for ``count`` measurements lets
the rollout through; one that does not fails it before production is touched.
The operator's own metrics are checked too: revisions by result and phase
durations.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shakedown.adapters.workloads import Kube
from shakedown.conditions import health_of, stored_conditions
from tests.fixtures.infrarollout import (
    Operator,
    config_data,
    rollout,
    wait_for,
    wait_phase,
    workload,
)
from tests.fixtures.prometheus import MetricsFile, running_prometheus

pytestmark = pytest.mark.cluster

RULES = (
    Path(__file__).resolve().parents[2] / "charts" / "shakedown" / "rules" / "shakedown.rules.yaml"
)


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    iro_operator: Operator,
) -> Iterator[tuple[str, MetricsFile]]:
    """(Prometheus URL, the metrics file it scrapes every second).

    It also scrapes the operator (as the chart's ServiceMonitor does, honoring
    its labels) and evaluates the chart's alert rules every second.
    """
    work = tmp_path_factory.mktemp("prometheus")
    metrics = MetricsFile(work)
    operator = urllib.parse.urlsplit(iro_operator.metrics_url).netloc
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "- job_name: web\n"
        f"  static_configs: [{{targets: ['127.0.0.1:{metrics.port}']}}]\n"
        "- job_name: shakedown\n"
        "  honor_labels: true\n"
        f"  static_configs: [{{targets: ['{operator}']}}]\n"
    )
    with running_prometheus(work, metrics, config, query="up") as url:
        yield url, metrics


def metric_check(url: str) -> dict[str, Any]:
    return {
        "smokeTests": {
            "readyFor": "2s",
            "metrics": [
                {
                    "name": "errors",
                    "prometheus": {"address": url, "query": 'web_error_ratio{service="web"}'},
                    "successCondition": "result < 0.05",
                    "interval": "1s",
                    "count": 3,
                    "failureLimit": 0,
                }
            ],
        }
    }


def scraped(url: str, rate: float) -> None:
    """Wait until Prometheus at ``url`` has scraped ``rate`` from the metrics file."""
    query = urllib.parse.urlencode({"query": 'web_error_ratio{service="web"}'})

    def seen() -> bool:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) == rate

    wait_for(seen, 30, f"Prometheus to scrape web_error_ratio {rate}")


def scrape(url: str) -> list[Sample]:
    """Every sample the operator's /metrics page shows, parsed."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(samples: list[Sample], metric: str, /, **labels: str) -> float | None:
    """The value of the one sample ``metric`` with exactly these labels; None when absent."""
    found = [s.value for s in samples if s.name == metric and s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else None


def firing(url: str, alert: str) -> list[dict[str, str]]:
    """Labels of the firing alerts called ``alert`` in Prometheus at ``url``."""
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as response:
        alerts = json.load(response)["data"]["alerts"]
    return [
        a["labels"] for a in alerts if a["labels"]["alertname"] == alert and a["state"] == "firing"
    ]


def of_object(samples: list[Sample], namespace: str, name: str) -> list[Sample]:
    return [
        s for s in samples if (s.labels.get("namespace"), s.labels.get("name")) == (namespace, name)
    ]


def rollout_at_error_rate(
    kube: Kube,
    ns: str,
    image: str,
    prometheus: tuple[str, MetricsFile],
    rate: float,
) -> dict[str, Any]:
    """The metric the check queries set to ``rate``, then a rollout checked by it, to its end."""
    url, metrics = prometheus
    metrics.set(rate)
    scraped(url, rate)
    workload(kube, ns, image)
    rollout(kube, ns, message="v2", http=False, bake="3s", extra=metric_check(url))
    return wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})


def test_metric_check_passes_on_good_numbers(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus: tuple[str, MetricsFile],
) -> None:
    final = rollout_at_error_rate(kube, ns, busybox_image, prometheus, 0.01)
    assert final["phase"] == "Succeeded", final
    errors = next(c for c in final["checks"] if c["name"] == "errors")
    assert errors["phase"] == "Passed" and errors["successes"] == 3, errors
    assert "0.01" in errors["message"]


def test_metric_check_failure_stops_the_rollout_before_production(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus: tuple[str, MetricsFile],
) -> None:
    final = rollout_at_error_rate(kube, ns, busybox_image, prometheus, 0.5)
    assert final["phase"] == "Failed", final
    assert "errors" in final["message"] and "0.5" in final["message"], final["message"]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert not final.get("shiftStarted")
    # The operator's own metrics name the rollout: revisions by result, phase
    # durations, and the info gauge with its phase and strategy.
    who = {"namespace": ns, "name": "change"}
    smoke = {**who, "phase": "SmokeTesting"}

    def counted() -> list[Sample] | None:
        # The operator counts right after it writes the status the test just read.
        samples = scrape(iro_operator.metrics_url)
        ended = value(samples, "shakedown_infrarollout_revisions_total", **who, result="Failed")
        timed = value(samples, "shakedown_infrarollout_phase_duration_seconds_count", **smoke)
        return samples if (ended, timed) == (1, 1) else None

    samples = wait_for(counted, 30, "the failed revision counted and its smoke test timed")
    info = [s.labels for s in samples if s.name == "shakedown_infrarollout_info"]
    assert [i for i in info if i["namespace"] == ns] == [
        {**who, "phase": "Failed", "strategy": "Replace"}
    ]
    # shakedown_object_health (ShakedownObjectStalled's input) follows the conditions.
    health = health_of(stored_conditions(final.get("conditions")))
    assert health is not None, final.get("conditions")
    labels = {"kind": "InfraRollout", **who, "health": health.value}
    wait_for(
        lambda: value(scrape(iro_operator.metrics_url), "shakedown_object_health", **labels) == 1,
        10,
        f"shakedown_object_health {labels}",
    )


def test_production_metric_failing_during_the_bake_rolls_back(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus: tuple[str, MetricsFile],
) -> None:
    url, metrics = prometheus
    metrics.set(0.01)
    scraped(url, 0.01)
    workload(kube, ns, busybox_image)
    checks = metric_check(url)
    production = dict(checks["smokeTests"]["metrics"][0], count=60)
    extra = {**checks, "rollback": {"notReadyFor": "2s", "metrics": [production]}}
    rollout(kube, ns, message="v2", http=False, bake="60s", extra=extra)
    wait_phase(kube, ns, {"Baking", "Failed", "RolledBack"})
    assert config_data(kube, ns)["MESSAGE"] == "v2"
    metrics.set(0.5)
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "RolledBack", final
    assert final["rollbackReason"].startswith("MetricCheckFailed"), final["rollbackReason"]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    who = {"namespace": ns, "name": "change"}
    reason = {**who, "reason": "MetricCheckFailed"}

    def counted() -> tuple[float | None, ...]:
        # The operator counts right after it writes the status the test just read.
        samples = scrape(iro_operator.metrics_url)
        return (
            value(samples, "shakedown_infrarollout_rollbacks_total", **reason),
            value(samples, "shakedown_infrarollout_rollback_latency_seconds_count", **who),
            value(samples, "shakedown_infrarollout_revisions_total", **who, result="RolledBack"),
        )

    wait_for(lambda: counted() == (1, 1, 1), 30, "one rollback counted", seen=counted)
    # The chart's alert rules, evaluated by a real Prometheus scraping the operator, say so.
    expected = {"alertname": "ShakedownRollbacks", "severity": "warning", **reason}
    wait_for(
        lambda: [a for a in firing(url, "ShakedownRollbacks") if a == expected],
        30,
        f"ShakedownRollbacks firing for {ns}/change",
    )
    # Deleting the rollout takes its series with it (the series count follows the objects).
    kube.delete("InfraRollout", ns, "change")
    wait_for(lambda: kube.get("InfraRollout", ns, "change") is None, 120, "rollout deleted")
    wait_for(
        lambda: not of_object(scrape(iro_operator.metrics_url), ns, "change"),
        30,
        "the deleted rollout's series to go",
    )
