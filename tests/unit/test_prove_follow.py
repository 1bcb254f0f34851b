"""``shakedown prove`` following its copies, its signals and its registry check (no cluster)."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from urllib3.exceptions import ProtocolError

from shakedown.cli import prove
from shakedown.cli.prove import Interrupted, Signals, follow
from shakedown.cli.prove_cluster import registry_problem
from shakedown.presentation.errors import UserError
from shakedown.presentation.prove_report import Outcome, Verdict


def rollout(phase: str) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "phase": phase, "revision": 1},
    }


class FakeCluster:
    """Answers reads from a script: a status dict, None (gone) or an exception to raise."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.reads = 0

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        result: dict[str, Any] | None = item
        return result

    def job_log_tail(self, obj: Any, check: str) -> str:
        return ""


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prove, "POLL_SECONDS", 0.0)


def outcome() -> Outcome:
    return Outcome("InfraRollout", "web", "web-1", "prod", "pr.yaml#1")


def test_follow_prints_a_line_per_phase_change_and_stops_at_the_verdict() -> None:
    cluster = FakeCluster(
        [rollout("Shadowing"), rollout("Shadowing"), rollout("SmokeTesting"), rollout("Validated")]
    )
    out = io.StringIO()
    (done,) = follow(cluster, [outcome()], timeout=60, out=out)
    assert done.verdict is Verdict.PROVEN and done.seconds is not None
    phases = [line.split()[3] for line in out.getvalue().splitlines()]
    assert phases == ["Shadowing", "SmokeTesting", "Validated"]


def test_a_short_api_hiccup_is_survived() -> None:
    cluster = FakeCluster([ProtocolError("reset"), OSError("refused"), rollout("Validated")])
    (done,) = follow(cluster, [outcome()], timeout=60, out=io.StringIO())
    assert done.verdict is Verdict.PROVEN


def test_a_long_outage_gives_up_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prove, "API_PATIENCE_SECONDS", 0.0)
    cluster = FakeCluster([ProtocolError("Connection reset by peer")])
    with pytest.raises(UserError, match="lost the cluster: cannot reach the cluster"):
        follow(cluster, [outcome()], timeout=60, out=io.StringIO())


def test_a_copy_deleted_by_someone_else_fails() -> None:
    (done,) = follow(FakeCluster([None]), [outcome()], timeout=60, out=io.StringIO())
    assert done.verdict is Verdict.FAILED and "deleted while being proven" in done.message


def test_the_timeout_leaves_the_copy_pending() -> None:
    (done,) = follow(
        FakeCluster([rollout("SmokeTesting")]), [outcome()], timeout=0.05, out=io.StringIO()
    )
    assert done.verdict is Verdict.PENDING


def test_the_first_signal_interrupts_and_later_ones_only_say_so() -> None:
    out = io.StringIO()
    signals = Signals(out)
    with pytest.raises(Interrupted) as caught:
        signals(signal.SIGTERM, None)
    assert caught.value.signum == signal.SIGTERM and str(caught.value) == "SIGTERM"
    signals(signal.SIGINT, None)  # during cleanup: no exception
    assert "SIGINT: still deleting what prove created" in out.getvalue()


@pytest.fixture
def answering_registry() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_registry_that_answers_even_401_is_reachable(answering_registry: str) -> None:
    assert registry_problem(answering_registry, insecure=True) is None


def test_a_registry_that_does_not_answer_is_named() -> None:
    problem = registry_problem("127.0.0.1:1", insecure=True, timeout=2)
    assert problem is not None and problem.startswith("cannot reach registry 127.0.0.1:1 (")
