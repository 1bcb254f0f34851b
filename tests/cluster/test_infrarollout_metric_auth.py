"""Metric checks through a MetricTemplate, against a real Prometheus behind basic auth.

Debian's Prometheus runs on 127.0.0.1 with ``--web.config.file`` requiring a
user and password (bcrypt-hashed there, as Prometheus wants), and scrapes a
metrics page the test controls. Rollouts name a MetricTemplate that carries the
address, query and condition; the credentials come from a Secret the template
names. The check passes only if the Secret's password reached Prometheus, and
the password shows up nowhere users or log readers look (status, Events, the
operator's log). A rollout naming a template that does not exist waits,
Stalled, with a condition naming the field, and goes on once it is created.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.infrarollout import (
    Operator,
    config_data,
    events,
    rollout,
    status,
    wait_for,
    wait_phase,
    workload,
)
from tests.fixtures.prometheus import MetricsFile, request, running_prometheus

pytestmark = pytest.mark.cluster

USER = "shakedown"
PASSWORD = "pr0m-pa55word-for-tests"


class Prometheus:
    def __init__(self, url: str, metrics: MetricsFile) -> None:
        self.url = url
        self.metrics = metrics

    def get(self, path: str, auth: tuple[str, str] | None) -> int:
        try:
            with urllib.request.urlopen(request(self.url + path, auth), timeout=5) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture(scope="module")
def prometheus_basic_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    work = tmp_path_factory.mktemp("prometheus-auth")
    metrics = MetricsFile(work)
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "- job_name: web\n"
        f"  static_configs: [{{targets: ['127.0.0.1:{metrics.port}']}}]\n"
    )
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = work / "web.yml"
    web.write_text(f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    with running_prometheus(
        work,
        metrics,
        config,
        f"--web.config.file={web}",
        query="web_error_ratio",
        auth=(USER, PASSWORD),
    ) as url:
        yield Prometheus(url, metrics)


def credentials(kube: Kube, ns: str, password: str) -> None:
    kube.create(
        "Secret",
        ns,
        {
            "metadata": {"name": "prometheus-credentials"},
            "stringData": {"username": USER, "password": password},
        },
    )


def template(kube: Kube, ns: str, address: str, name: str = "error-rate") -> None:
    kube.create(
        "MetricTemplate",
        ns,
        {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "MetricTemplate",
            "metadata": {"name": name},
            "spec": {
                "prometheus": {
                    "address": address,
                    "secretRef": {"name": "prometheus-credentials"},
                    "query": 'web_error_ratio{service="web"}',
                },
                "successCondition": "result[0] < 0.05",
            },
        },
    )


def by_template(name: str = "error-rate") -> dict[str, Any]:
    check = {"name": "errors", "templateRef": {"name": name}, "interval": "1s", "count": 2}
    return {"smokeTests": {"readyFor": "2s", "metrics": [check]}}


def assert_password_nowhere(kube: Kube, ns: str, op: Operator) -> None:
    assert PASSWORD not in str(status(kube, ns))
    assert PASSWORD not in "\n".join(events(kube, ns))
    assert PASSWORD not in op.log()


def test_a_template_with_basic_auth_from_a_secret_lets_the_rollout_through(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus_basic_auth: Prometheus,
) -> None:
    prom = prometheus_basic_auth
    # Prometheus really refuses a query without the Secret's credentials.
    assert prom.get("/api/v1/query?query=up", None) == 401
    assert prom.get("/api/v1/query?query=up", (USER, "wrong")) == 401
    prom.metrics.set(0.01)
    credentials(kube, ns, PASSWORD)
    template(kube, ns, prom.url)
    workload(kube, ns, busybox_image)
    rollout(kube, ns, message="v2", http=False, bake="3s", extra=by_template())
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Succeeded", final
    errors = next(c for c in final["checks"] if c["name"] == "errors")
    assert errors["phase"] == "Passed" and errors["successes"] == 2, errors
    assert "meets result[0] < 0.05" in errors["message"], errors
    assert config_data(kube, ns)["MESSAGE"] == "v2"
    assert_password_nowhere(kube, ns, iro_operator)


def test_a_wrong_password_fails_the_check_without_showing_it(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus_basic_auth: Prometheus,
) -> None:
    prom = prometheus_basic_auth
    prom.metrics.set(0.01)
    credentials(kube, ns, "not-" + PASSWORD)
    template(kube, ns, prom.url)
    workload(kube, ns, busybox_image)
    rollout(kube, ns, message="v2", http=False, bake="3s", extra=by_template())
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Failed", final
    errors = next(c for c in final["checks"] if c["name"] == "errors")
    assert "401" in errors["message"] and "secretRef" in errors["message"], errors
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert "not-" + PASSWORD not in str(final) + iro_operator.log()


def test_a_missing_template_stalls_the_rollout_until_it_exists(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    prometheus_basic_auth: Prometheus,
) -> None:
    prom = prometheus_basic_auth
    prom.metrics.set(0.01)
    credentials(kube, ns, PASSWORD)
    workload(kube, ns, busybox_image)
    rollout(kube, ns, message="v2", http=False, bake="3s", extra=by_template("later"))

    def stalled() -> dict[str, Any] | None:
        conditions = {c["type"]: c for c in status(kube, ns).get("conditions") or []}
        found = conditions.get("Stalled")
        return found if found and found["status"] == "True" else None

    condition = wait_for(stalled, 60, "Stalled condition")
    assert condition["reason"] == "InvalidSpec"
    assert "spec.smokeTests.metrics[0].templateRef.name" in condition["message"], condition
    assert "'later' not found" in condition["message"], condition
    current = status(kube, ns)
    assert not current.get("revision") and not current.get("shadowNamespace"), current
    assert config_data(kube, ns) == {"MESSAGE": "v1"}

    template(kube, ns, prom.url, name="later")
    final = wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})
    assert final["phase"] == "Succeeded", final
    conditions = {c["type"]: c["status"] for c in final.get("conditions") or []}
    assert conditions.get("Stalled") == "False", final
