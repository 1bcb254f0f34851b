"""Retries and redirects of the registry and Git clients, over real sockets on 127.0.0.1.

Each test scripts a local HTTP server (tests/unit/scripted_http.py) and counts
the requests it received; only the retry policy's sleep and clock are the
test's, so no test waits for a real backoff.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime

import pytest

from shakedown.adapters import httpcalls
from shakedown.adapters.gitsource import SourceError, resolve_git_revision
from shakedown.adapters.httpcalls import GaveUp, RetryPolicy
from shakedown.adapters.registry import Manifest, RegistryClient, RegistryError
from tests.unit.scripted_http import Reply, ScriptedServer, scripted_server

MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
OK_MANIFEST = Reply(
    200,
    MANIFEST,
    {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": MANIFEST_DIGEST},
)
UNAVAILABLE = Reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')


class Clock:
    """Sleeps that only move a clock, and the delays they were asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def policy(self, **overrides: float) -> RetryPolicy:
        settings: dict[str, float] = {"attempts": 4, "first_delay": 0.2, "budget": 30.0}
        settings.update(overrides)
        return RetryPolicy(
            attempts=int(settings["attempts"]),
            first_delay=settings["first_delay"],
            budget=settings["budget"],
            sleep=self.sleep,
            clock=lambda: self.now,
        )


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


def registry(server: ScriptedServer, clock: Clock, **policy: float) -> RegistryClient:
    server.on("/v2/", Reply(200, b"{}"))
    return RegistryClient(server.netloc, insecure=True, timeout=5, retry=clock.policy(**policy))


def test_a_registry_answering_503_twice_is_asked_again_until_it_answers(
    server: ScriptedServer,
) -> None:
    clock = Clock()
    path = "/v2/ci/app/manifests/v1"
    server.on(path, UNAVAILABLE, UNAVAILABLE, OK_MANIFEST)
    manifest = registry(server, clock).get_manifest("ci/app", "v1")
    assert manifest.digest == MANIFEST_DIGEST
    assert server.count("GET", path) == 3
    assert len(clock.slept) == 2 and clock.slept[0] < clock.slept[1], "backoff grows"


def test_retry_after_of_a_429_is_the_wait(server: ScriptedServer) -> None:
    clock = Clock()
    path = "/v2/ci/app/manifests/v1"
    server.on(path, Reply(429, b"", {"Retry-After": "3"}), OK_MANIFEST)
    assert registry(server, clock).resolve("ci/app", "v1") == MANIFEST_DIGEST
    assert server.count("HEAD", path) == 2
    assert clock.slept == [3.0]


def test_a_dropped_connection_is_retried(server: ScriptedServer) -> None:
    clock = Clock()
    path = "/v2/ci/app/tags/list"
    server.on(path, Reply(drop=True), Reply(200, b'{"tags": ["v1"]}'))
    assert registry(server, clock).tags("ci/app") == ["v1"]
    assert server.count("GET", path) == 2


def test_attempts_are_bounded_and_the_error_says_how_many(server: ScriptedServer) -> None:
    clock = Clock()
    path = "/v2/ci/app/manifests/v1"
    server.on(path, UNAVAILABLE)
    expected = r"HTTP 503 UNAVAILABLE: try later \(after 3 attempts\)"
    with pytest.raises(RegistryError, match=expected):
        registry(server, clock, attempts=3).get_manifest("ci/app", "v1")
    assert server.count("GET", path) == 3


def test_total_time_is_bounded(server: ScriptedServer) -> None:
    clock = Clock()
    path = "/v2/ci/app/manifests/v1"
    server.on(path, UNAVAILABLE)
    # First wait 2-4 s of a 5 s budget; the second (4-8 s) would pass the end.
    with pytest.raises(RegistryError, match=r"after 2 attempts; retry budget of 5s spent"):
        registry(server, clock, attempts=10, first_delay=4, budget=5).get_manifest("ci/app", "v1")
    assert server.count("GET", path) == 2


def test_a_retry_after_beyond_the_budget_is_an_error_at_once(server: ScriptedServer) -> None:
    clock = Clock()
    path = "/v2/ci/app/manifests/v1"
    server.on(path, Reply(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(RegistryError, match=r"HTTP 429.*Retry-After 3600s is beyond"):
        registry(server, clock).get_manifest("ci/app", "v1")
    assert server.count("GET", path) == 1 and clock.slept == []


def test_a_tag_put_is_retried_and_stored_once(server: ScriptedServer) -> None:
    """PUT of a manifest under a tag is idempotent: the retry stores the same digest."""
    clock = Clock()
    path = "/v2/ci/app/manifests/stable"
    server.on(path, Reply(502), Reply(201, b"", {"Docker-Content-Digest": MANIFEST_DIGEST}))
    manifest = Manifest(body=MANIFEST, media_type=MANIFEST_TYPE, digest=MANIFEST_DIGEST)
    assert registry(server, clock).put_manifest("ci/app", "stable", manifest) == MANIFEST_DIGEST
    puts = [s for s in server.seen if s.method == "PUT"]
    assert len(puts) == 2 and {s.body for s in puts} == {MANIFEST}


def test_a_post_is_never_sent_twice(server: ScriptedServer) -> None:
    """Opening a blob upload session is not idempotent: a failure is final."""
    clock = Clock()
    path = "/v2/ci/app/blobs/uploads/"
    server.on(path, UNAVAILABLE, Reply(202))
    request = urllib.request.Request(server.url + path, data=b"", method="POST")
    with pytest.raises(GaveUp) as raised:
        httpcalls.call(httpcalls.opener(timeout=5), request, policy=clock.policy())
    assert raised.value.attempts == 1
    assert server.count("POST", path) == 1


def test_not_found_and_client_errors_are_not_retried(server: ScriptedServer) -> None:
    clock = Clock()
    server.on("/v2/ci/app/manifests/denied", Reply(403))
    client = registry(server, clock)
    assert client.resolve("ci/app", "missing") is None
    with pytest.raises(RegistryError, match="HTTP 403"):
        client.get_manifest("ci/app", "denied")
    assert server.count("HEAD", "/v2/ci/app/manifests/missing") == 1
    assert server.count("GET", "/v2/ci/app/manifests/denied") == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), (format_datetime(datetime(2000, 1, 1)), 0.0)],
)
def test_retry_after_header_forms(header: str, seconds: float) -> None:
    assert httpcalls._retry_after(header) == seconds


def test_git_refs_are_retried(server: ScriptedServer) -> None:
    clock = Clock()
    sha = "1" * 40
    advert = f"{len(sha) + 21:04x}{sha} refs/heads/main\n".encode() + b"0000"
    server.on("/repo.git/info/refs", Reply(503), Reply(200, advert))
    assert resolve_git_revision(server.url + "/repo.git", "main", retry=clock.policy()) == sha
    assert server.count("GET", "/repo.git/info/refs") == 2


# --------------------------------------------------------------------------- redirects
@pytest.fixture
def elsewhere() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


def test_git_credentials_do_not_follow_a_redirect_to_another_host(
    server: ScriptedServer, elsewhere: ScriptedServer
) -> None:
    refs = "/repo.git/info/refs"
    # 127.0.0.1 and localhost are different hosts to a browser, curl and git.
    other = elsewhere.url.replace("127.0.0.1", "localhost")
    server.on(refs, Reply(302, b"", {"Location": other + refs + "?service=git-upload-pack"}))
    elsewhere.on(refs, Reply(401))
    with pytest.raises(SourceError, match="HTTP 401"):
        resolve_git_revision(server.url + "/repo.git", "main", credentials=("robot", "s3cret"))
    assert "Authorization" in server.seen[0].headers
    assert len(elsewhere.seen) == 1
    assert "Authorization" not in elsewhere.seen[0].headers


def test_git_credentials_follow_a_redirect_on_the_same_host(server: ScriptedServer) -> None:
    sha = "2" * 40
    advert = f"{len(sha) + 21:04x}{sha} refs/heads/main\n".encode() + b"0000"
    server.on("/old.git/info/refs", Reply(301, b"", {"Location": "/new.git/info/refs"}))
    server.on("/new.git/info/refs", Reply(200, advert))
    found = resolve_git_revision(server.url + "/old.git", "main", credentials=("robot", "pw"))
    assert found == sha
    assert "Authorization" in server.seen[-1].headers and server.seen[-1].path == (
        "/new.git/info/refs"
    )
