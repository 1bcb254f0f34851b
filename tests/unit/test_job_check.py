"""The Job check hears that its Job finished from a watch, against a fake API server on loopback.

The fake keeps Jobs, answers their GETs, lists and watches (a chunked stream
that sends what the test publishes) and counts every request, so a test can
tell a check woken by a watch event from one that polls. Refusing the watch
(403) or the cluster-wide list (a SelfSubjectAccessReview that says no)
stands in for a namespaced install's RBAC.
"""

from __future__ import annotations

import asyncio
import json
import queue
import select
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shakedown.adapters import jobwatch
from shakedown.adapters.apiserver import Connection
from shakedown.adapters.credentials import Endpoint
from shakedown.adapters.jobwatch import THREAD_NAME
from shakedown.adapters.workloads import Kube
from shakedown.checks import job as job_check
from shakedown.checks.base import CheckContext
from shakedown.checks.job import JobCheck
from shakedown.planning.infrarollout.objects import CHECK_LABEL
from shakedown.planning.infrarollout.smoke import CheckOutcome

Obj = dict[str, Any]
NS = "shadow"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
NAME = "shakedown-job-smoke-r1"
SPEC = {"name": "smoke", "command": ["/bin/run-smoke"], "timeout": "10m"}
#: Longest any step of a test waits for something that should happen.
DEADLINE = 15.0


class FakeApi:
    """The few API server answers a Job check needs, with every request recorded."""

    def __init__(self) -> None:
        self.jobs: dict[str, Obj] = {}
        self.pods: list[Obj] = []
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.refuse_watch = 0
        """Answer watches with this error status (403: RBAC, 500: the server's trouble)."""
        self.everywhere = True
        self.streams: list[queue.Queue[Obj]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.version = 1
        self.url = ""

    def job_gets(self) -> int:
        return sum(1 for m, p, _ in self.requests if (m, p) == ("GET", f"{JOBS}/{NAME}"))

    def watches(self) -> list[str]:
        """Paths of the watch requests made (refused ones too)."""
        return [p for m, p, q in self.requests if m == "GET" and "watch" in q]

    def put(self, job: Obj, kind: str) -> None:
        with self.lock:
            self.version += 1
            job["metadata"]["resourceVersion"] = str(self.version)
            self.jobs[job["metadata"]["name"]] = job
            streams = list(self.streams)
        for stream in streams:
            stream.put({"type": kind, "object": job})

    def finish(self, kind: str, message: str = "") -> None:
        job = json.loads(json.dumps(self.jobs[NAME]))
        condition = {"type": kind, "status": "True", "reason": kind, "message": message}
        job["status"] = {"conditions": [condition]}
        self.put(job, "MODIFIED")


def handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, status: int, body: Obj) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            api.requests.append(("GET", url.path, query))
            if "watch" in query:
                if api.refuse_watch:
                    status = {"kind": "Status", "code": api.refuse_watch, "message": "no watch"}
                    self.answer(api.refuse_watch, status)
                else:
                    self.stream(float(query["timeoutSeconds"][0]))
            elif url.path.startswith(f"{JOBS}/"):
                found = api.jobs.get(url.path.rsplit("/", 1)[1])
                if found is None:
                    self.answer(404, {"kind": "Status", "code": 404, "message": "not found"})
                else:
                    self.answer(200, found)
            elif url.path.endswith("/jobs"):
                items = list(api.jobs.values())
                if query.get("labelSelector") != [CHECK_LABEL]:
                    items = []
                self.answer(
                    200, {"metadata": {"resourceVersion": str(api.version)}, "items": items}
                )
            elif url.path == f"/api/v1/namespaces/{NS}/pods":
                self.answer(200, {"metadata": {}, "items": api.pods})
            else:
                self.answer(404, {"kind": "Status", "code": 404, "message": "no such path"})

        def stream(self, seconds: float) -> None:
            events: queue.Queue[Obj] = queue.Queue()
            with api.lock:
                api.streams.append(events)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            ends = time.monotonic() + seconds
            try:
                while time.monotonic() < ends and not api.stopping.is_set():
                    try:
                        event = events.get(timeout=0.1)
                    except queue.Empty:
                        if self.hung_up():
                            break
                        continue
                    line = json.dumps(event).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client closed the watch
            finally:
                with api.lock:
                    api.streams.remove(events)
            self.close_connection = True

        def hung_up(self) -> bool:
            """Whether the client closed the connection (it sends nothing else on a watch)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            api.requests.append(("POST", url.path, {}))
            if url.path.endswith("/selfsubjectaccessreviews"):
                self.answer(201, {**body, "status": {"allowed": api.everywhere}})
            elif url.path == JOBS:
                body["metadata"]["namespace"] = NS
                api.put(body, "ADDED")
                self.answer(201, body)
            else:
                self.answer(404, {"kind": "Status", "code": 404, "message": "no such path"})

    return Handler


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    httpd.daemon_threads = True
    serving = threading.Thread(target=httpd.serve_forever, daemon=True)
    serving.start()
    fake.url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        yield fake
    finally:
        fake.stopping.set()
        httpd.shutdown()
        httpd.server_close()


def context(api: FakeApi) -> tuple[CheckContext, Connection]:
    conn = Connection(Endpoint(server=api.url))
    kube = Kube(conn)
    ctx = CheckContext(
        kube=kube, namespace=NS, rollout="r", revision=1, image="img", job_news=kube.job_news
    )
    return ctx, conn


async def until(what: Callable[[], bool], why: str) -> None:
    """Poll ``what`` until true, or fail saying ``why`` after ``DEADLINE`` seconds."""
    ends = time.monotonic() + DEADLINE
    while not what():
        assert time.monotonic() < ends, why
        await asyncio.sleep(0.05)


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def run(api: FakeApi, body: Callable[[asyncio.Task[CheckOutcome]], Awaitable[Any]]) -> Any:
    """Start the check, hand its task to ``body``, and close the client after."""
    ctx, conn = context(api)

    async def main() -> Any:
        task = asyncio.create_task(JobCheck().run(ctx, SPEC))
        try:
            return await body(task)
        finally:
            task.cancel()

    try:
        return asyncio.run(main())
    finally:
        conn.close()


def test_a_completed_job_passes_on_its_watch_event_without_a_get_a_second(api: FakeApi) -> None:
    async def body(task: asyncio.Task[CheckOutcome]) -> None:
        await until(lambda: len(api.watches()) == 1, "the check never watched its Job")
        await asyncio.sleep(3)  # the Job runs on: a poll would GET it about three times more
        waited = api.job_gets()
        api.finish("Complete")
        outcome = await asyncio.wait_for(task, DEADLINE)
        assert (outcome.passed, outcome.message) == (True, f"Job {NAME} completed")
        # The GET before creating it and one before waiting; then one for the news.
        assert (waited, api.job_gets()) == (2, 3)

    run(api, body)
    assert api.watches() == ["/apis/batch/v1/jobs"], "one label-filtered watch, cluster-wide"


def test_a_failed_job_reports_its_containers_message(api: FakeApi) -> None:
    api.pods = [
        {
            "metadata": {"name": f"{NAME}-x", "labels": {"job-name": NAME}},
            "status": {
                "containerStatuses": [
                    {"state": {"terminated": {"reason": "Error", "message": "3 tests failed"}}}
                ]
            },
        }
    ]

    async def body(task: asyncio.Task[CheckOutcome]) -> CheckOutcome:
        await until(lambda: len(api.watches()) == 1, "the check never watched its Job")
        api.finish("Failed", "Job has reached the specified backoff limit")
        return await asyncio.wait_for(task, DEADLINE)

    outcome = run(api, body)
    assert not outcome.passed
    assert outcome.message == (
        f"Job {NAME}: Job has reached the specified backoff limit. 3 tests failed"
    )


def test_cancelling_the_check_ends_its_watch(api: FakeApi) -> None:
    async def body(task: asyncio.Task[CheckOutcome]) -> None:
        await until(lambda: len(api.watches()) == 1, "the check never watched its Job")
        assert watch_threads(), "the watch runs in a thread of its own"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: not watch_threads(), "the watch outlived its cancelled check")
        await until(lambda: not api.streams, "the watch's connection is still open")

    run(api, body)


def test_a_refused_watch_falls_back_to_polling_and_still_finishes(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_check, "POLL_SECONDS", 0.2)
    api.refuse_watch = 403

    async def body(task: asyncio.Task[CheckOutcome]) -> CheckOutcome:
        await until(lambda: len(api.watches()) == 1, "the check never tried to watch")
        await until(lambda: not watch_threads(), "a refused watch keeps its thread")
        api.finish("Complete")  # no watch says so: only a poll can see it
        return await asyncio.wait_for(task, DEADLINE)

    outcome = run(api, body)
    assert (outcome.passed, outcome.message) == (True, f"Job {NAME} completed")


def test_a_failing_watch_is_retried_and_the_check_polls_meanwhile(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_check, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(jobwatch, "RETRY_SECONDS", 60.0)  # no list again within the test
    api.refuse_watch = 500

    async def body(task: asyncio.Task[CheckOutcome]) -> CheckOutcome:
        await until(lambda: len(api.watches()) == 1, "the check never tried to watch")
        gets = api.job_gets()
        await until(lambda: api.job_gets() > gets, "the check does not poll")
        assert watch_threads(), "the watch gave up on a failure it should retry"
        api.finish("Complete")  # no watch says so: only a poll can see it
        return await asyncio.wait_for(task, DEADLINE)

    outcome = run(api, body)
    assert (outcome.passed, outcome.message) == (True, f"Job {NAME} completed")
    assert len(api.watches()) == 1, "retried only after RETRY_SECONDS"


def test_without_a_cluster_wide_list_the_watch_is_of_the_checks_namespace(api: FakeApi) -> None:
    api.everywhere = False

    async def body(task: asyncio.Task[CheckOutcome]) -> CheckOutcome:
        await until(lambda: len(api.watches()) == 1, "the check never watched its Job")
        api.finish("Complete")
        return await asyncio.wait_for(task, DEADLINE)

    assert run(api, body).passed
    assert api.watches() == [JOBS]


def test_a_restarted_operator_follows_the_job_it_started(api: FakeApi) -> None:
    api.put(
        {"metadata": {"name": NAME, "namespace": NS, "labels": {CHECK_LABEL: "smoke"}}}, "ADDED"
    )

    async def body(task: asyncio.Task[CheckOutcome]) -> CheckOutcome:
        await until(lambda: len(api.watches()) == 1, "the check never watched its Job")
        api.finish("Complete")
        return await asyncio.wait_for(task, DEADLINE)

    assert run(api, body).passed
    assert [p for m, p, _ in api.requests if m == "POST" and p == JOBS] == [], "not created again"
