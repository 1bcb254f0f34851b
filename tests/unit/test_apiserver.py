"""The operator's own API client: credentials from a kubeconfig, and JSON over a real socket.

The requests go to a small HTTP server on loopback that answers as the API
server does (JSON bodies, ``Status`` errors, a chunked watch stream), so what
is checked is what crosses the wire.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from shakedown.adapters import apiserver, credentials
from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.credentials import Endpoint, NoCluster

CA = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"


def kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    config = {
        "current-context": "ctx",
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


# --------------------------------------------------------------------------- credentials
def test_a_kubeconfig_with_inline_ca_and_client_certificate(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path,
        {
            "client-certificate-data": base64.b64encode(b"CERT").decode(),
            "client-key-data": base64.b64encode(b"KEY").decode(),
        },
        {
            "server": "https://127.0.0.1:6443/",
            "certificate-authority-data": base64.b64encode(CA).decode(),
        },
    )
    where = credentials.from_kubeconfig(path)
    assert where.server == "https://127.0.0.1:6443"
    assert (where.ca_data, where.cert_data, where.key_data) == (CA, b"CERT", b"KEY")
    assert where.bearer() is None


def test_files_in_a_kubeconfig_are_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "token").write_text("first\n")
    cluster = {"server": "https://h:1", "certificate-authority": "ca.crt"}
    path = kubeconfig(tmp_path, {"tokenFile": "token"}, cluster)
    where = credentials.from_kubeconfig(path)
    assert where.ca_file == str(tmp_path / "ca.crt")
    assert where.bearer() == "first"


def test_a_rotated_token_file_is_read_again(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old")
    where = Endpoint(server="https://h:1", token_file=str(token))
    assert where.bearer() == "old"
    token.write_text("new")
    stamp = token.stat().st_mtime + 5
    os.utime(token, (stamp, stamp))
    assert where.bearer() == "new"


def test_an_exec_plugin_gives_the_token_until_it_expires(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'status': {'token': f'token-{n}', "
        "'expirationTimestamp': sys.argv[1]}}))\n"
    )
    where = credentials.from_kubeconfig(
        kubeconfig(
            tmp_path,
            {"exec": {"command": sys.executable, "args": [str(script), "2999-01-01T00:00:00Z"]}},
        )
    )
    assert where.bearer() == "token-1"
    assert where.bearer() == "token-1", "not asked again before it expires"
    assert counter.read_text() == "1"


def test_an_exec_plugin_that_fails_is_named(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"exec": {"command": "/nonexistent/aws-iam-authenticator"}})
    where = credentials.from_kubeconfig(path)
    with pytest.raises(NoCluster, match="aws-iam-authenticator"):
        where.bearer()


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("current-context: ''\n", "no current-context"),
        ("current-context: x\ncontexts: []\n", "no context named 'x'"),
        ("[1, 2", "cannot use kubeconfig"),
    ],
)
def test_a_broken_kubeconfig_is_one_line(tmp_path: Path, config: str, said: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(config)
    with pytest.raises(NoCluster, match=said) as caught:
        credentials.from_kubeconfig(path)
    assert "\n" not in str(caught.value)


def test_no_kubeconfig_and_no_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(NoCluster, match="set KUBECONFIG"):
        credentials.endpoint()


def test_kopf_logs_in_with_the_same_credentials(tmp_path: Path) -> None:
    where = Endpoint(server="https://h:1", ca_data=CA, token="t")

    info = kopf.ConnectionInfo(**where.kopf_login())
    assert (info.server, info.token, info.scheme) == ("https://h:1", "t", "Bearer")
    assert info.ca_data == CA


def test_client_key_files_do_not_outlive_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is written only to a private folder that is gone once loaded."""
    seen: list[Path] = []

    class Context:
        def load_cert_chain(self, cert: str, key: str) -> None:
            seen.extend([Path(cert), Path(key)])
            assert stat.S_IMODE(Path(key).stat().st_mode) == 0o600

    credentials._load_chain(Context(), b"CERT", b"KEY")  # type: ignore[arg-type]
    assert seen and not any(p.exists() for p in seen)


# --------------------------------------------------------------------------- the wire
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str, bytes]]

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/api/v1/namespaces/ns/pods/p/log"):
            self._answer(200, b"line 1\nline 2\n", "text/plain")
        elif "watch=true" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for n in (1, 2):
                event = json.dumps({"type": "ADDED", "object": {"n": n}}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            if "hang" in self.path:
                threading.Event().wait(30)  # until the client closes
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/api/v1/namespaces/ns/secrets/missing"):
            status = {"kind": "Status", "message": 'secrets "missing" not found', "code": 404}
            self._answer(404, json.dumps(status).encode())
        else:
            self._answer(200, json.dumps({"path": self.path}).encode())
        if self.path == "/then-hang-up":
            self.close_connection = True  # as a server's idle timeout would, unannounced

    def do_POST(self) -> None:
        body = self._record()
        self._answer(201, body)


@pytest.fixture
def server() -> Iterator[tuple[Connection, list[tuple[str, str, str, bytes]]]]:
    seen: list[tuple[str, str, str, bytes]] = []
    handler = type("H", (Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    conn = Connection(Endpoint(server=f"http://127.0.0.1:{httpd.server_port}", token="sekrit"))
    try:
        yield conn, seen
    finally:
        conn.close()
        httpd.shutdown()
        httpd.server_close()


def test_json_in_and_out_with_the_bearer_token(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, seen = server
    made = conn.call("POST", "/api/v1/namespaces/ns/configmaps", body={"data": {"a": "1"}})
    assert made == {"data": {"a": "1"}}
    assert conn.call("GET", "/api/v1/x", query={"labelSelector": "a=b"}) == {
        "path": "/api/v1/x?labelSelector=a%3Db"
    }
    assert [s[2] for s in seen] == ["Bearer sekrit", "Bearer sekrit"]


def test_connections_are_kept_alive_and_reused(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, _ = server
    conn.call("GET", "/a")
    first = conn._idle[-1][1]
    conn.call("GET", "/b")
    assert [kept for _, kept in conn._idle] == [first]


def test_a_connection_the_server_closed_meanwhile_is_replaced(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, seen = server
    for _ in range(3):  # several kept connections, all of them closed by the server
        threads = [
            threading.Thread(target=conn.call, args=("GET", "/then-hang-up")) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert len(conn._idle) >= 2, "kept: the server did not say it would close"
    assert conn.call("GET", "/b") == {"path": "/b"}
    assert [s[1] for s in seen][-1] == "/b"


def test_a_connection_idle_for_long_is_not_reused(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn, _ = server
    conn.call("GET", "/a")
    old = conn._idle[-1][1]
    monkeypatch.setattr(apiserver, "IDLE_SECONDS", 0.0)
    conn.call("GET", "/b")
    assert old.sock is None, "closed, not reused"


def test_an_error_status_carries_the_servers_message(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, _ = server
    with pytest.raises(ApiError) as caught:
        conn.call("GET", "/api/v1/namespaces/ns/secrets/missing")
    assert (caught.value.status, caught.value.reason) == (404, 'secrets "missing" not found')


def test_no_server_is_status_0() -> None:
    conn = Connection(Endpoint(server="http://127.0.0.1:9"))
    with pytest.raises(ApiError) as caught:
        conn.call("GET", "/api", timeout=5)
    assert caught.value.status == 0 and "/api" in caught.value.reason


def test_a_pod_log_is_text(server: tuple[Connection, list[tuple[str, str, str, bytes]]]) -> None:
    conn, _ = server
    log = conn.text("/api/v1/namespaces/ns/pods/p/log", query={"tailLines": "30"})
    assert log == "line 1\nline 2\n"


def test_a_watch_yields_its_events_line_by_line(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, _ = server
    events = list(conn.stream("/api/v1/pods", {"watch": "true"}, timeout=10))
    assert events == [{"type": "ADDED", "object": {"n": 1}}, {"type": "ADDED", "object": {"n": 2}}]


def test_closing_a_watch_from_another_thread_ends_the_blocked_read(
    server: tuple[Connection, list[tuple[str, str, str, bytes]]],
) -> None:
    conn, _ = server
    stream = conn.stream("/api/v1/pods", {"watch": "true", "hang": "1"}, timeout=60)
    got: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    reader.start()
    deadline = threading.Event()
    for _ in range(100):  # both events arrive, then the read blocks
        if len(got) == 2:
            break
        deadline.wait(0.05)
    stream.close()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the reader still blocks after close"
    assert [e["object"]["n"] for e in got] == [1, 2]
