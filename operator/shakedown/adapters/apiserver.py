"""The operator's own connection to the API server: JSON over HTTPS, with the standard library.

Why not the ``kubernetes`` client library here: the operator reads and writes
plain JSON (it snapshots and restores objects byte for byte, and plans from
dicts), so the library's typed models only cost memory, and they cost most of
it. Importing its API classes and their pydantic models took about 50 MiB of
the 113 MiB an operator with no objects held (issue 11's idle RSS goal is
150 MiB with 2,000 objects). The CLI, the demo and the tests keep the library
(``adapters.kubeclient``), whose breadth (every auth plugin, typed objects for
humans to read) serves them.

What it supports, and why that is enough for an operator: the in-cluster
ServiceAccount (its token re-read when the kubelet rotates it), and a
kubeconfig's current context with a CA, a client certificate, a bearer token or
token file, or an ``exec`` credential plugin (``ExecCredential`` with a token or
a client certificate, asked again when it expires). Anything else is refused
with a one-line ``NoCluster`` naming what is missing.

Connections are kept alive and shared: a small pool of idle HTTPS connections
that worker threads borrow for one request each; a watch holds its own
connection for as long as it streams, and ``Stream.close`` from any thread ends
the blocked read.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

import yaml

#: The in-cluster ServiceAccount's files.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Idle connections kept for reuse, and seconds one may idle before it is dropped: the
#: API server closes a connection idle for long (Go's IdleTimeout), and a request sent
#: on one it has just closed fails with nothing received.
POOL_SIZE = 32
IDLE_SECONDS = 30.0
#: Seconds an exec plugin may take.
EXEC_TIMEOUT = 30


class NoCluster(Exception):
    """No usable kubeconfig and no in-cluster ServiceAccount: nothing to talk to."""


class ApiError(Exception):
    """The API server answered with an error status (or the connection failed: status 0)."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"({status}) {reason}")
        self.status = status
        self.reason = reason
        self.body = body


# --------------------------------------------------------------------------- credentials
@dataclass
class Endpoint:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    exec_config: Mapping[str, Any] | None = None
    _token_read: tuple[float, str] | None = field(default=None, repr=False)
    _exec_until: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bearer(self) -> str | None:
        """The bearer token to send now (a token file is re-read when it changes)."""
        if self.exec_config is not None:
            self._refresh_exec()
        if self.token_file:
            with contextlib.suppress(OSError):
                mtime = os.stat(self.token_file).st_mtime
                if self._token_read is None or self._token_read[0] != mtime:
                    text = Path(self.token_file).read_text().strip()
                    self._token_read = (mtime, text)
            return self._token_read[1] if self._token_read else None
        return self.token

    def _refresh_exec(self) -> None:
        with self._lock:
            if time.time() < self._exec_until:
                return
            found = run_exec_plugin(self.exec_config or {})
            status = found.get("status") or {}
            self.token = status.get("token") or None
            if status.get("clientCertificateData"):
                self.cert_data = str(status["clientCertificateData"]).encode()
                self.key_data = str(status.get("clientKeyData") or "").encode()
            expires = status.get("expirationTimestamp")
            self._exec_until = _epoch(expires) - 60 if expires else float("inf")

    def ssl_context(self) -> ssl.SSLContext:
        if self.exec_config is not None:
            self._refresh_exec()  # a plugin may hand out a client certificate
        context = ssl.create_default_context(
            cafile=self.ca_file, cadata=self.ca_data.decode() if self.ca_data else None
        )
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_data and self.key_data:
            _load_chain(context, self.cert_data, self.key_data)
        return context

    def kopf_login(self) -> dict[str, Any]:
        """The fields of ``kopf.ConnectionInfo`` for these credentials (kopf logs in as we do)."""
        token = self.bearer()
        return {
            "server": self.server,
            "ca_path": self.ca_file,
            "ca_data": self.ca_data,
            "insecure": self.insecure or None,
            "certificate_data": self.cert_data,
            "private_key_data": self.key_data,
            "token": token,
            "scheme": "Bearer" if token else None,
            "default_namespace": None,
            "expiration": datetime.fromtimestamp(self._exec_until, UTC)
            if self.exec_config is not None and self._exec_until != float("inf")
            else None,
        }


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """``load_cert_chain`` reads files only: write both to a private directory, load, delete."""
    with tempfile.TemporaryDirectory(prefix="shakedown-tls-") as folder:
        cert_path, key_path = Path(folder, "tls.crt"), Path(folder, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            path.touch(mode=0o600)
            path.write_bytes(data)
        context.load_cert_chain(str(cert_path), str(key_path))


def run_exec_plugin(config: Mapping[str, Any]) -> dict[str, Any]:
    """Run a kubeconfig ``exec`` plugin and return its ``ExecCredential``."""
    command = [str(config.get("command") or "")] + [str(a) for a in config.get("args") or []]
    env = dict(os.environ)
    for item in config.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value"))
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": config.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, timeout=EXEC_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NoCluster(f"kubeconfig exec plugin {command[0]!r} did not run: {exc}") from exc
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise NoCluster(
            f"kubeconfig exec plugin {command[0]!r} exited {done.returncode}: {said[0]}"
        )
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise NoCluster(f"kubeconfig exec plugin {command[0]!r} printed no JSON") from exc
    return result


def kubeconfig_path() -> Path | None:
    """The kubeconfig that will be used, if any (``KUBECONFIG``'s first file, ~/.kube/config)."""
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        return Path(env)
    default = Path.home() / ".kube" / "config"
    return default if default.exists() else None


def endpoint(kubeconfig: Path | None = None) -> Endpoint:
    """The configured cluster: a kubeconfig when there is one, else the in-cluster account."""
    path = kubeconfig or kubeconfig_path()
    if path is not None:
        return from_kubeconfig(path)
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.is_file():
        raise NoCluster("no cluster: set KUBECONFIG (or run `make cluster` for the local one)")
    if ":" in host:
        host = f"[{host}]"
    ca = SERVICE_ACCOUNT / "ca.crt"
    return Endpoint(
        server=f"https://{host}:{port}",
        ca_file=str(ca) if ca.is_file() else None,
        token_file=str(token),
    )


def from_kubeconfig(path: Path) -> Endpoint:
    """The current context of one kubeconfig file; ``NoCluster`` names what is missing."""
    if not path.is_file():
        raise NoCluster(f"KUBECONFIG names {path}, which does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
        return _from_config(config, path.parent)
    except NoCluster as exc:
        raise NoCluster(f"cannot use kubeconfig {path}: {exc}") from None
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        said = " ".join(str(exc).split())  # YAML errors point at the spot over several lines
        raise NoCluster(f"cannot use kubeconfig {path}: {said}") from exc


def _named(config: Mapping[str, Any], section: str, name: str, key: str) -> Mapping[str, Any]:
    for item in config.get(section) or []:
        if item.get("name") == name:
            found: Mapping[str, Any] = item.get(key) or {}
            return found
    raise NoCluster(f"no {key} named {name!r}")


def _from_config(config: Mapping[str, Any], base: Path) -> Endpoint:
    current = config.get("current-context")
    if not current:
        raise NoCluster("it sets no current-context")
    context = _named(config, "contexts", current, "context")
    cluster = _named(config, "clusters", str(context.get("cluster")), "cluster")
    user = _named(config, "users", str(context.get("user")), "user") if context.get("user") else {}

    def data(inline: str, file: str) -> bytes | None:
        if user.get(inline) or cluster.get(inline):
            return base64.b64decode(str(user.get(inline) or cluster.get(inline)))
        name = user.get(file) or cluster.get(file)
        return (base / str(name)).read_bytes() if name else None

    if not cluster.get("server"):
        raise NoCluster(f"cluster {context.get('cluster')!r} has no server")
    if user.get("auth-provider"):
        raise NoCluster("auth-provider users are not supported by `shakedown run`; use exec")
    ca_file = cluster.get("certificate-authority")
    return Endpoint(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=str(base / str(ca_file)) if ca_file else None,
        ca_data=base64.b64decode(cluster["certificate-authority-data"])
        if cluster.get("certificate-authority-data")
        else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_data=data("client-certificate-data", "client-certificate"),
        key_data=data("client-key-data", "client-key"),
        token=user.get("token") or None,
        token_file=str(base / str(user["tokenFile"])) if user.get("tokenFile") else None,
        exec_config=user.get("exec") or None,
    )


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
