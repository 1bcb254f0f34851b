"""Metric checks against a fake Prometheus API on loopback: templates, credentials, TLS.

The fake answers ``/api/v1/query`` only when the request carries what the test
expects (a bearer token, basic auth, a header), so a passing check proves the
credentials came from the Secret and went to the address. Another server
stands in for "somewhere else": a redirect to it is not followed, so it never
sees the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from shakedown.adapters.workloads import Kube
from shakedown.checks.base import CheckContext
from shakedown.checks.prometheus import (
    Connection,
    PrometheusCheck,
    QueryError,
    SetupError,
    connection,
    values,
)
from shakedown.planning.infrarollout.smoke import CheckOutcome

TOKEN = "s3cret-token"


class FakeKube:
    """Just ``get`` over a dict of objects keyed by (kind, namespace, name)."""

    def __init__(self, objects: Mapping[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = dict(objects)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace or "", name))


class FakePrometheus:
    """Serves a fixed vector to requests that carry ``want`` headers; 401 to the others."""

    def __init__(self, want: Mapping[str, str], series: list[float], tls: Path | None = None):
        self.seen: list[dict[str, str]] = []
        self.redirect_to: str | None = None
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.seen.append(dict(self.headers.items()))
                if fake.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", fake.redirect_to + self.path)
                    self.end_headers()
                    return
                if any(self.headers.get(k) != v for k, v in want.items()):
                    self.send_response(401)
                    self.end_headers()
                    return
                result = [
                    {"metric": {"i": str(i)}, "value": [0, str(v)]} for i, v in enumerate(series)
                ]
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": result}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls / "tls.crt", tls / "tls.key")
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[FakePrometheus]]:
    made: list[FakePrometheus] = []
    yield made
    for server in made:
        server.close()


def secret(**data: str) -> dict[str, Any]:
    encoded = {k.replace("_", "."): base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"data": encoded}


def run(
    spec: dict[str, Any], objects: Mapping[tuple[str, str, str], dict[str, Any]]
) -> CheckOutcome:
    ctx = CheckContext(
        kube=cast(Kube, FakeKube(objects)),
        namespace="prod-shadow",
        rollout="web",
        revision=1,
        home_namespace="prod",
        field="spec.smokeTests.metrics[0]",
    )
    return asyncio.run(asyncio.wait_for(PrometheusCheck().run(ctx, spec), timeout=30))


def check(prometheus: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "errors", "interval": "1s", "count": 1, **extra}
    if prometheus is not None:
        spec["prometheus"] = {"query": "errors", **prometheus}
        spec.setdefault("successCondition", "result < 0.05")
    return spec


def test_a_bearer_token_from_the_secret_is_sent(servers: list[FakePrometheus]) -> None:
    prom = FakePrometheus({"Authorization": f"Bearer {TOKEN}"}, [0.01])
    servers.append(prom)
    objects = {("Secret", "prod", "prom-creds"): secret(token=TOKEN)}
    outcome = run(check({"address": prom.url, "secretRef": {"name": "prom-creds"}}), objects)
    assert outcome.passed, outcome.message
    assert TOKEN not in outcome.message
    without = run(check({"address": prom.url}), {})
    assert not without.passed and "401" in without.message and "secretRef" in without.message


def test_basic_auth_and_headers_from_the_secret(servers: list[FakePrometheus]) -> None:
    basic = "Basic " + base64.b64encode(b"shakedown:pa ss").decode()
    prom = FakePrometheus({"Authorization": basic, "X-Scope-OrgID": "team-a"}, [0.01])
    servers.append(prom)
    objects = {
        ("Secret", "prod", "c"): secret(username="shakedown\n", password="pa ss\n", org="team-a")
    }
    server = {
        "address": prom.url,
        "secretRef": {"name": "c"},
        "headers": [{"name": "X-Scope-OrgID", "secretKey": "org"}],
    }
    assert run(check(server), objects).passed


def test_credentials_are_not_sent_on_to_a_redirect(servers: list[FakePrometheus]) -> None:
    elsewhere = FakePrometheus({}, [0.0])
    prom = FakePrometheus({}, [0.0])
    prom.redirect_to = elsewhere.url
    servers += [prom, elsewhere]
    objects = {("Secret", "prod", "c"): secret(token=TOKEN)}
    outcome = run(check({"address": prom.url, "secretRef": {"name": "c"}}), objects)
    assert not outcome.passed and "redirect (not followed)" in outcome.message
    assert prom.seen and prom.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    assert elsewhere.seen == []


def test_a_ca_from_the_secret_is_trusted_for_https(
    servers: list[FakePrometheus], tmp_path: Path
) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    prom = FakePrometheus({}, [0.01], tls=tmp_path)
    servers.append(prom)
    ca = (tmp_path / "tls.crt").read_text()
    trusted = run(check({"address": prom.url, "secretRef": {"name": "ca"}}), {
        ("Secret", "prod", "ca"): secret(ca_crt=ca)
    })  # fmt: skip
    assert trusted.passed, trusted.message
    untrusted = run(check({"address": prom.url}), {})
    assert not untrusted.passed and "certificate" in untrusted.message.lower()
    skipped = run(check({"address": prom.url, "insecureSkipVerify": True}), {})
    assert skipped.passed, skipped.message


def test_a_template_supplies_server_query_and_condition(servers: list[FakePrometheus]) -> None:
    prom = FakePrometheus({"Authorization": f"Bearer {TOKEN}"}, [0.01, 0.02])
    servers.append(prom)
    template = {
        "spec": {
            "prometheus": {"address": prom.url, "query": "x", "secretRef": {"name": "c"}},
            "successCondition": "max(result) < 0.05",
        }
    }
    objects = {
        ("MetricTemplate", "prod", "errors"): template,
        ("Secret", "prod", "c"): secret(token=TOKEN),
    }
    outcome = run(check(templateRef={"name": "errors"}), objects)
    assert outcome.passed and "[0.01, 0.02]" in outcome.message, outcome.message
    # The rollout's own successCondition overrides the template's.
    stricter = run(
        check(templateRef={"name": "errors"}, successCondition="result < 0.015"), objects
    )
    assert not stricter.passed and "fails result < 0.015" in stricter.message


@pytest.mark.parametrize(
    ("spec", "objects", "message"),
    [
        (
            check(templateRef={"name": "gone"}),
            {},
            "spec.smokeTests.metrics[0].templateRef: MetricTemplate 'gone' not found in prod",
        ),
        (
            check({"address": "http://127.0.0.1:1", "secretRef": {"name": "nope"}}),
            {},
            "spec.smokeTests.metrics[0].prometheus.secretRef: Secret 'nope' not found in prod",
        ),
        (
            check({"address": "http://127.0.0.1:1", "secretRef": {"name": "c"}}),
            {("Secret", "prod", "c"): secret(username="u")},
            "basic auth needs both username and password",
        ),
    ],
)
def test_setup_problems_name_the_field(
    spec: dict[str, Any], objects: dict[tuple[str, str, str], dict[str, Any]], message: str
) -> None:
    outcome = run(spec, objects)
    assert not outcome.passed and message in outcome.message


def test_connection_never_shows_header_values() -> None:
    conn = connection(
        {"address": "http://p:9090/", "headers": [{"name": "X-Key", "secretKey": "k"}]},
        {"token": TOKEN, "k": "hidden"},
        where="spec.smokeTests.metrics[0].prometheus",
    )
    assert conn.address == "http://p:9090"
    assert conn.headers == {"Authorization": f"Bearer {TOKEN}", "X-Key": "hidden"}
    assert TOKEN not in repr(conn) and "hidden" not in repr(conn)
    with pytest.raises(SetupError, match=r"headers\[0\]\.secretKey: the Secret has no key 'k'"):
        connection(
            {"address": "http://p", "headers": [{"name": "X-Key", "secretKey": "k"}]},
            {},
            where="spec.smokeTests.metrics[0].prometheus",
        )
    assert Connection("https://p", insecure_skip_verify=True).ssl_context() is False


def test_prometheus_values() -> None:
    assert values({"resultType": "scalar", "result": [1, "0.5"]}) == 0.5
    one = {"resultType": "vector", "result": [{"metric": {}, "value": [1, "3"]}]}
    assert values(one) == 3.0
    two = {"resultType": "vector", "result": [{"value": [1, "3"]}, {"value": [1, "NaN"]}]}
    several = values(two)
    assert isinstance(several, list) and several[0] == 3.0 and len(several) == 2
    with pytest.raises(QueryError, match="no samples"):
        values({"resultType": "vector", "result": []})
    with pytest.raises(QueryError, match="matrix"):
        values({"resultType": "matrix", "result": []})
