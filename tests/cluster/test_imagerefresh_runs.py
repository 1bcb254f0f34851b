"""ContainerImageRefresh end to end: real builds (buildah in a Job), real tests, real registry.

Each test builds a tiny image FROM the local busybox, so a run takes seconds;
what is asserted is what a user checks: where the tag points in the registry,
what a pod pulling the tag runs, status, Events, the webhook body, metrics.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fixtures.imagerefresh import GROUP, PLURAL, VERSION, Refreshes

pytestmark = pytest.mark.cluster


def containerfile(registry: str) -> str:
    return (
        f"FROM {registry}/shakedown/busybox:latest\n"
        "ARG VERSION=0\n"
        'RUN echo "version $VERSION" > /version\n'
        "COPY check.sh /check.sh\n"
    )


CHECK_OK = "#!/bin/sh\necho checking; grep -q version /version && echo ok\n"
CHECK_FAIL = "#!/bin/sh\necho checking widget; echo 'FAIL: widget is broken'; exit 3\n"

TESTS = [
    {"name": "version", "command": ["/bin/sh", "-c", "cat /version"], "timeout": "1m"},
    {"name": "check", "command": ["/bin/sh", "/check.sh"], "timeout": "1m"},
]


class Webhook:
    """A local HTTP endpoint collecting the JSON notifications the operator posts."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        authorizations: list[str] = []
        self.received = received
        self.authorizations = authorizations

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                authorizations.append(self.headers.get("Authorization", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


def _metric(url: str, metric: str, **labels: str) -> float:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_success_moves_the_tag_and_a_failing_scenario_holds_it(
    refreshes: Refreshes, registry: str, webhook: Webhook, operator: Any
) -> None:
    r = refreshes
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_OK})
    r.core.create_namespaced_secret(
        r.namespace, {"metadata": {"name": "hook"}, "stringData": {"token": "hook-t0ken"}}
    )
    r.create(
        "app",
        {
            "image": r.image("app"),
            "tag": "stable",
            "source": {"configMap": {"name": "ctx"}, "buildArgs": {"VERSION": "1"}},
            "tests": TESTS,
            "notify": {
                "webhook": {"url": webhook.url, "secretRef": {"name": "hook", "key": "token"}},
                "events": ["Failed", "Promoted"],
            },
        },
    )
    status = r.wait_run("app", "1")
    run = status["lastRun"]
    assert run["phase"] == "Succeeded", run
    assert run["trigger"] == "Spec"
    digest = run["candidateDigest"]
    assert r.tag_digest("app", "stable") == digest
    assert status["promotedDigest"] == digest
    assert [h["digest"] for h in status["history"]] == [digest]
    assert [p["name"] for p in run["phases"]] == ["Build", "Test", "Promote"]
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "Promoted")

    # A consumer pulling the tag runs exactly the tested image.
    log, image_id = r.run_pod("consumer-1", f"{r.image('app')}:stable", ["cat", "/version"])
    assert log.strip() == "version 1"
    assert image_id.endswith(digest)

    # Nothing is left behind: the run's Jobs and pods are removed.
    r.wait_for("Jobs removed", lambda: not r.jobs("app") and not r.pods("app"), 30)
    assert {"RunStarted", "Building", "Built", "Promoting", "Promoted"} <= set(
        r.event_reasons("app")
    )
    assert (
        _metric(
            operator.metrics_url,
            "shakedown_imagerefresh_runs_total",
            namespace=r.namespace,
            name="app",
            result="Succeeded",
        )
        == 1
    )
    for phase in ("Build", "Test", "Promote", "Run"):
        assert (
            _metric(
                operator.metrics_url,
                "shakedown_imagerefresh_phase_duration_seconds_count",
                namespace=r.namespace,
                name="app",
                phase=phase,
            )
            == 1
        ), phase
    assert (
        _metric(
            operator.metrics_url,
            "shakedown_imagerefresh_last_promotion_timestamp_seconds",
            namespace=r.namespace,
            name="app",
        )
        > 0
    )

    # Break one of the two scenarios and ask for a run.
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_FAIL})
    r.annotate("app", "shakedown.dev/run-requested", "please-1")
    status = r.wait_run("app", "2")
    run = status["lastRun"]
    assert run["phase"] == "Failed", run
    assert run["trigger"] == "Manual"
    assert [f["name"] for f in run["failedTests"]] == ["check"]
    failed = run["failedTests"][0]
    assert failed["reason"] == "exit code 3"
    assert "FAIL: widget is broken" in failed["logTail"]
    assert r.tag_digest("app", "stable") == digest  # unchanged
    assert status["promotedDigest"] == digest
    assert run["candidateDigest"] != digest
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "RunFailed")
    assert "check" in ready["message"]
    # The Event is posted after the status is stored: wait for it, as a user re-running
    # `kubectl describe` would.
    warnings = r.wait_for(
        "the RunFailed warning event",
        lambda: [e for e in r.events("app") if e.type == "Warning" and e.reason == "RunFailed"],
        30,
    )
    assert "check (exit code 3)" in warnings[0].message
    assert (
        _metric(
            operator.metrics_url,
            "shakedown_imagerefresh_runs_total",
            namespace=r.namespace,
            name="app",
            result="Failed",
        )
        == 1
    )
    info = {"namespace": r.namespace, "name": "app", "tag": "stable", "phase": "Failed"}
    r.wait_for(
        "the info gauge to show the failed run",
        lambda: _metric(operator.metrics_url, "shakedown_imagerefresh_info", **info) == 1,
        10,
    )

    # The notification follows the status, Events and metrics of the finished run.
    r.wait_for("the failed run's notification", lambda: len(webhook.received) >= 2, 10)
    results = [(h["result"], h["run"]["id"]) for h in webhook.received]
    assert results == [("Promoted", "1"), ("Failed", "2")]
    assert webhook.authorizations == ["Bearer hook-t0ken"] * 2
    body = webhook.received[1]
    assert body["name"] == "app" and body["namespace"] == r.namespace
    assert body["run"]["failedTests"][0]["name"] == "check"
    assert "FAIL: widget is broken" in body["run"]["failedTests"][0]["logTail"]


def test_build_failure_hang_and_unreachable_registry_fail_the_run(
    refreshes: Refreshes, registry: str
) -> None:
    r = refreshes
    host = registry.rsplit(":", 1)[0]
    broken = containerfile(registry).replace(
        'RUN echo "version $VERSION" > /version', "RUN echo compiling; exit 7"
    )
    r.config_map("broken", {"Containerfile": broken, "check.sh": CHECK_OK})
    r.config_map("ok", {"Containerfile": containerfile(registry), "check.sh": CHECK_OK})
    r.create(
        "broken",
        {"image": r.image("broken"), "source": {"configMap": {"name": "broken"}}, "tests": TESTS},
    )
    r.create(
        "hang",
        {
            "image": r.image("hang"),
            "source": {"configMap": {"name": "ok"}},
            "tests": [
                TESTS[0],
                {
                    "name": "hangs",
                    "command": ["/bin/sh", "-c", "echo started; sleep 3600"],
                    "timeout": "5s",
                },
            ],
        },
    )
    # Nothing listens on this port of the registry's host: the push cannot succeed.
    with socket.socket() as sock:
        sock.bind((host, 0))
        dead_port = sock.getsockname()[1]
    r.create(
        "nowhere",
        {
            "image": f"{host}:{dead_port}/{r.namespace}/nowhere",
            "source": {"configMap": {"name": "ok"}},
            "tests": TESTS,
        },
    )

    run = r.wait_run("broken", "1")["lastRun"]
    assert run["phase"] == "Failed"
    assert run["message"].startswith("build failed: exit code")
    assert "compiling" in run["message"]  # the log tail
    assert not [j for j in r.jobs("broken") if "test" in j.metadata.name]
    assert r.tag_digest("broken", "latest") is None

    run = r.wait_run("hang", "1")["lastRun"]
    assert run["phase"] == "Failed"
    assert [f["name"] for f in run["failedTests"]] == ["hangs"]
    assert run["failedTests"][0]["reason"] == "timed out after 5s"
    assert "started" in run["failedTests"][0]["logTail"]
    assert r.tag_digest("hang", "latest") is None
    r.wait_for("hung pod removed", lambda: not r.pods("hang"), 30)

    run = r.wait_run("nowhere", "1")["lastRun"]
    assert run["phase"] == "Failed"
    assert "build failed" in run["message"]
    assert str(dead_port) in run["message"]
    assert "connection refused" in run["message"].lower()


def test_validate_only_never_moves_the_tag(refreshes: Refreshes, registry: str) -> None:
    r = refreshes
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_OK})
    r.create(
        "pr",
        {
            "image": r.image("pr"),
            "source": {"configMap": {"name": "ctx"}},
            "tests": TESTS,
            "promote": False,
        },
    )
    status = r.wait_run("pr", "1")
    assert status["lastRun"]["phase"] == "Validated"
    assert "promote is false" in status["lastRun"]["message"]
    assert r.tag_digest("pr", "latest") is None
    assert "promotedDigest" not in status and not status.get("history")
    # The candidate exists, by digest, under the run's own tag.
    candidate = status["lastRun"]["candidateDigest"]
    assert r.reg.resolve(f"{r.namespace}/pr", candidate) == candidate
    assert r.tags("pr") == [f"shakedown-{r.namespace}-pr-run-1"]

    # Requests while a run is in flight are remembered; each new value starts one run.
    r.annotate("pr", "shakedown.dev/run-requested", "first")
    r.wait_for("run 2 in flight", lambda: (r.status("pr").get("currentRun") or {}).get("id"), 30)
    r.annotate("pr", "shakedown.dev/run-requested", "second")
    r.wait_for("second seen", lambda: r.status("pr").get("handledRunRequest") == "second", 30)
    r.annotate("pr", "shakedown.dev/run-requested", "third")
    r.wait_for("third seen", lambda: r.status("pr").get("handledRunRequest") == "third", 30)
    status = r.wait_run("pr", "4", timeout=240)
    runs = {x["id"]: x for x in [status["lastRun"], *status["recentRuns"]]}
    assert sorted(runs) == ["1", "2", "3", "4"]
    assert [runs[i]["trigger"] for i in ("2", "3", "4")] == ["Manual"] * 3
    assert all(runs[i]["phase"] == "Validated" for i in ("2", "3", "4"))
    # Run 4 ending and a fifth starting would be one status write: the status that
    # shows run 4 finished already says whether anything else is queued.
    assert not status.get("currentRun") and not status.get("pendingTriggers")
    assert status["lastRun"]["id"] == "4"


def test_deleting_a_resource_mid_run_leaves_no_job_or_pod(
    refreshes: Refreshes, registry: str
) -> None:
    r = refreshes
    r.config_map("ctx", {"Containerfile": containerfile(registry), "check.sh": CHECK_OK})
    r.create(
        "gone",
        {
            "image": r.image("gone"),
            "source": {"configMap": {"name": "ctx"}},
            "tests": [{"name": "slow", "command": ["sleep", "600"], "timeout": "10m"}],
        },
    )
    r.wait_for(
        "the scenario running",
        lambda: (
            (r.status("gone").get("currentRun") or {}).get("phase") == "Testing"
            and any("test" in p.metadata.name for p in r.pods("gone"))
        ),
        120,
    )
    r.custom.delete_namespaced_custom_object(GROUP, VERSION, r.namespace, PLURAL, "gone")
    r.wait_for("Jobs and pods removed", lambda: not r.jobs("gone") and not r.pods("gone"), 60)
