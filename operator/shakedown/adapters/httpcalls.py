"""HTTP calls to registries and Git hosts: bounded retries, and no credentials across hosts.

Registries answer 429 when rate limited and 502/503 while restarting or
behind a busy proxy; a reconcile pass that gives up on the first such answer
fails a run that a second try would have finished. So idempotent requests are
retried with exponential backoff and jitter, honouring ``Retry-After``, within
a bound on attempts *and* on total time: the passes run in kopf's worker
threads, and a registry that asks for an hour's wait must turn into an error
in status, not a handler stuck for an hour.

Only idempotent methods are retried (GET, HEAD, PUT, DELETE). Moving a tag is
a manifest PUT keyed by the manifest's bytes, so sending it twice stores the
same digest once. shakedown's own client never uploads blobs (buildah in the
build Job pushes, with its own retries); a POST, such as opening a blob upload
session, is sent exactly once, so a retry can never start a second upload.

Why hand-written rather than a library: urllib3's ``Retry`` would need the
registry and Git clients moved from urllib to urllib3 pools, and it sleeps for
whatever ``Retry-After`` says, with no total-time bound; tenacity would bring a
dependency for the twenty lines of ``call`` and still need the ``Retry-After``
and status rules written here. What is left is small and tested against a real
local server (tests/unit/test_httpcalls.py).

Redirects: urllib copies every header of a request to the redirected one,
``Authorization`` included, whichever host the ``Location`` names. A registry
or Git host that redirects (a blob to a CDN, a repository to a mirror) would
hand the CDN the registry's token. ``opener`` drops ``Authorization`` when a
redirect leaves the origin (scheme, host and port), as curl and git do.

Every connection ``opener`` makes goes through ``shakedown.outbound.connect``,
which refuses metadata, loopback and API-server addresses after resolving the
name, redirects included.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from shakedown import outbound

#: Statuses worth another try: rate limiting and a server or its proxy failing
#: for the moment. 501 and 505 say the request itself will never work.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
SENSITIVE_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and the total time allowed."""

    attempts: int = 5
    """Requests sent at most, the first included."""
    first_delay: float = 0.5
    """Backoff before the second attempt; doubles each time up to ``max_delay``."""
    max_delay: float = 8.0
    budget: float = 30.0
    """Seconds from the first attempt after which no retry starts (waits included)."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def backoff(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1 for the second attempt), half of it jitter."""
        ceiling = min(self.max_delay, self.first_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


class GaveUp(Exception):
    """The last failure, after retries ran out; ``error`` is what the last attempt raised."""

    def __init__(self, error: Exception, *, attempts: int, why: str = "") -> None:
        super().__init__(why or str(error))
        self.error = error
        self.attempts = attempts
        self.why = why

    def detail(self) -> str:
        """`` (after N attempts; why)`` for the end of an error message."""
        parts = [f"after {self.attempts} attempts"] if self.attempts > 1 else []
        if self.why:
            parts.append(self.why)
        return f" ({'; '.join(parts)})" if parts else ""


Response = tuple[int, Mapping[str, str], bytes]
#: Opens a request and returns the response (a context manager), like ``urlopen``.
Opener = Callable[[urllib.request.Request], Any]


def call(
    open_: Opener,
    request: urllib.request.Request,
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
) -> Response:
    """Send ``request`` (again, when it is idempotent and the failure transient).

    Returns status, headers and body. A final failure raises ``GaveUp`` around
    the ``urllib.error.HTTPError`` or ``OSError`` of the last attempt.
    """
    idempotent = request.get_method().upper() in IDEMPOTENT_METHODS
    started = policy.clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            with open_(request) as response:
                headers = dict(response.headers.items())
                return int(response.status), headers, bytes(response.read())
        except urllib.error.HTTPError as exc:
            error: Exception = exc
            transient = exc.code in retry_statuses
            retry_after = _retry_after(exc.headers.get("Retry-After"))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            error, transient, retry_after = exc, _transient(exc), None
        if not transient or not idempotent or attempt >= policy.attempts:
            raise GaveUp(error, attempts=attempt) from None
        delay = retry_after if retry_after is not None else policy.backoff(attempt)
        left = policy.budget - (policy.clock() - started)
        if delay > left:
            why = (
                f"Retry-After {retry_after:g}s is beyond the {policy.budget:g}s retry budget"
                if retry_after is not None
                else f"retry budget of {policy.budget:g}s spent"
            )
            raise GaveUp(error, attempts=attempt, why=why) from None
        if isinstance(error, urllib.error.HTTPError):
            error.close()  # the last one stays readable for the caller's message
        policy.sleep(delay)


def opener(*, timeout: float, verify: bool = True) -> Opener:
    """``urlopen`` with the origin-keeping redirect rule, optionally without TLS checks."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    built = urllib.request.build_opener(
        _GuardedHTTPHandler(), _GuardedHTTPSHandler(context=context), SameOriginCredentials()
    )

    def open_(request: urllib.request.Request) -> Any:
        return built.open(request, timeout=timeout)

    return open_


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = outbound.connect


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = outbound.connect


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, *, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._guarded_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._guarded_context)


class SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but keep credentials for the origin they were meant for."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(newurl) != origin(req.full_url):
            for name in SENSITIVE_HEADERS:
                new.remove_header(name.capitalize())  # how urllib.request stores names
        return new


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, the unit credentials belong to (default ports filled in)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _transient(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ssl.SSLError):
        return False
    # A refused connection is a wrong address as often as a restart: it fails at
    # once, and the next reconcile pass asks again. RemoteDisconnected (closed
    # before answering) is a ConnectionResetError.
    if isinstance(reason, ConnectionRefusedError):
        return False
    return isinstance(reason, ConnectionError | TimeoutError | http.client.IncompleteRead)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
