"""The operator's own connection to the API server: JSON over HTTPS, with the standard library.

Why not the ``kubernetes`` client library here: the operator reads and writes
plain JSON (it snapshots and restores objects byte for byte, and plans from
dicts), so the library's typed models only cost memory, and they cost most of
it. Importing its API classes and their pydantic models took about 50 MiB of
the 113 MiB an operator with no objects held (issue 11's idle RSS goal is
150 MiB with 2,000 objects). The CLI, the demo and the tests keep the library
(``adapters.kubeclient``), whose breadth (every auth plugin, typed objects for
humans to read) serves them.

Who it talks to, and as whom, is ``adapters.credentials``'s answer.

Connections are kept alive and shared: a small pool of idle HTTPS connections
that worker threads borrow for one request each; a watch holds its own
connection for as long as it streams, and ``Stream.close`` from any thread ends
the blocked read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack

from shakedown.adapters.credentials import Endpoint, NoCluster, endpoint

#: Idle connections kept for reuse, and seconds one may idle before it is dropped: the
#: API server closes a connection idle for long (Go's IdleTimeout), and a request sent
#: on one it has just closed fails with nothing received.
POOL_SIZE = 32
IDLE_SECONDS = 30.0


class ApiError(Exception):
    """The API server answered with an error status (or the connection failed: status 0)."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"({status}) {reason}")
        self.status = status
        self.reason = reason
        self.body = body


# --------------------------------------------------------------------------- requests
class Options(TypedDict, total=False):
    """What a request may carry besides its method and path."""

    body: Any
    """JSON-able (sent as JSON), or ``str``/``bytes`` sent as they are."""
    query: Mapping[str, str] | None
    content_type: str
    """Of the body: a merge, strategic or apply patch says so here."""
    timeout: float


class Stream:
    """One watch's response, read line by line; ``close`` from another thread ends it.

    Closing from another thread only shuts the socket down: the reading thread
    then sees the end of the stream and releases the connection itself (closing
    it under a read in progress would pull the buffer from under it).
    """

    def __init__(self, connection: http.client.HTTPConnection, response: Any) -> None:
        self._connection = connection
        self._response = response
        self._closed = False
        self._reading = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._reading = True
        try:
            while not self._closed:
                line = self._response.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            if not self._closed:
                raise
        finally:
            self._reading = False
            self._closed = True
            self._connection.close()

    def close(self) -> None:
        self._closed = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if not self._reading:
            self._connection.close()


class Connection:
    """Requests to one API server, as plain JSON, over a pool of kept-alive connections."""

    def __init__(self, where: Endpoint, *, pool_size: int = POOL_SIZE) -> None:
        self.endpoint = where
        parsed = urllib.parse.urlsplit(where.server)
        self.server = where.server
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/")
        self._context = where.ssl_context() if self._https else None
        self._idle: list[tuple[float, http.client.HTTPConnection]] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=timeout
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _borrow(self, timeout: float, *, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        """A kept connection (True) unless ``fresh`` or none is young enough; else a new one."""
        stale = []
        found = None
        with self._lock:
            while self._idle and not fresh:
                since, connection = self._idle.pop()
                if time.monotonic() - since < IDLE_SECONDS and connection.sock is not None:
                    found = connection
                    break
                stale.append(connection)
        for connection in stale:
            connection.close()
        if found is not None:
            assert found.sock is not None
            found.sock.settimeout(timeout)
            return found, True
        return self._new(timeout), False

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append((time.monotonic(), connection))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, connection in idle:
            connection.close()

    def _headers(self, content_type: str, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "Content-Type": content_type, "User-Agent": "shakedown"}
        token = self.endpoint.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _url(self, path: str, query: Mapping[str, str] | None) -> str:
        url = self._prefix + path
        if query:
            url += "?" + urllib.parse.urlencode(dict(query))
        return url

    def raw(
        self,
        method: str,
        path: str,
        *,
        accept: str = "application/json",
        **options: Unpack[Options],
    ) -> tuple[int, str, bytes]:
        """(status, reason, body bytes) of one request; a failed connection is ``ApiError(0)``.

        A kept-alive connection the server closed meanwhile fails before any
        answer; the request then goes once more on a new connection (the server
        closed without reading it, so nothing was done).
        """
        body = options.get("body")
        payload = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        data = payload.encode() if isinstance(payload, str) else payload
        url = self._url(path, options.get("query"))
        timeout = options.get("timeout", 30)
        content_type = options.get("content_type", "application/json")
        for attempt in range(2):
            connection, reused = self._borrow(timeout, fresh=attempt > 0)
            try:
                connection.request(
                    method, url, body=data, headers=self._headers(content_type, accept)
                )
                response = connection.getresponse()
                content = response.read()
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
                ConnectionAbortedError,
            ) as exc:
                connection.close()
                if reused and attempt == 0:
                    continue
                raise ApiError(0, f"{method} {path}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise ApiError(0, f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if response.will_close:
                connection.close()
            else:
                self._give_back(connection)
            return response.status, str(response.reason), content
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, **options: Unpack[Options]) -> Any:
        """The parsed JSON answer; ``ApiError`` (with the server's message) for an error status."""
        status, reason, content = self.raw(method, path, **options)
        if not 200 <= status <= 299:
            text = content.decode("utf-8", "replace")
            raise ApiError(status, message(text) or reason, text)
        return json.loads(content) if content else None

    def text(
        self, path: str, *, query: Mapping[str, str] | None = None, timeout: float = 30
    ) -> str:
        """A GET whose answer is text (a pod's log)."""
        status, reason, content = self.raw("GET", path, query=query, accept="*/*", timeout=timeout)
        text = content.decode("utf-8", "replace")
        if not 200 <= status <= 299:
            raise ApiError(status, message(text) or reason, text)
        return text

    def stream(self, path: str, query: Mapping[str, str], *, timeout: float = 330) -> Stream:
        """A watch: its events as they come, on a connection of its own."""
        connection = self._new(timeout)
        try:
            connection.request(
                "GET",
                self._url(path, query),
                headers=self._headers("application/json", "application/json"),
            )
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ApiError(0, f"watch {path}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status <= 299:
            text = response.read().decode("utf-8", "replace")
            connection.close()
            raise ApiError(response.status, message(text) or str(response.reason), text)
        return Stream(connection, response)


def message(text: str) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the text's start."""
    try:
        return str(json.loads(text).get("message", ""))
    except (ValueError, AttributeError):
        return text[:200]


def connect(kubeconfig: Path | None = None) -> Connection:
    """A connection to the configured cluster (``NoCluster`` when there is none)."""
    where = endpoint(kubeconfig)
    try:
        return Connection(where)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise NoCluster(f"cannot use the credentials for {where.server}: {exc}") from exc
