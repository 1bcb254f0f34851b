"""Specs' URLs never make the operator connect to metadata, loopback or the API server.

Through real sockets: the HTTP clients the operator uses (registry, Git,
webhooks, Prometheus) are pointed at real servers on loopback, which the
default policy refuses, and at the same servers with an allow-list.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from shakedown import outbound
from shakedown.adapters import notify
from shakedown.adapters.gitsource import SourceError, resolve_git_revision
from shakedown.adapters.registry import RegistryClient, RegistryError
from shakedown.adapters.registry_tokens import token_service_trusted
from shakedown.checks.prometheus import Connection, QueryError, query
from tests.unit.scripted_http import Reply, ScriptedServer, scripted_server

STRICT = outbound.OutboundPolicy()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_metadata_loopback_and_friends_are_refused(host: str, kind: str) -> None:
    why = STRICT.refusal(host, 80)
    assert why is not None and kind in why and outbound.ALLOW_ENV in why


@pytest.mark.parametrize(
    "host", ["10.0.0.7", "192.168.1.2", "172.16.5.5", "198.19.255.1", "8.8.8.8"]
)
def test_private_and_public_addresses_are_allowed(host: str) -> None:
    assert STRICT.refusal(host, 443) is None


def test_the_api_server_is_refused_on_its_port_only() -> None:
    rules = outbound.OutboundPolicy(
        api_servers=frozenset({(ipaddress.ip_address("198.19.255.1"), 6443)})
    )
    why = rules.refusal("198.19.255.1", 6443)
    assert why is not None and "API server" in why
    assert rules.refusal("198.19.255.1", 5000) is None, "the registry beside it stays reachable"


def test_an_allow_list_lets_a_refused_range_through() -> None:
    rules = outbound.OutboundPolicy(allow=outbound.parse_allow("127.0.0.0/8, 169.254.0.0/16"))
    assert rules.refusal("127.0.0.1", 80) is None
    assert rules.refusal("169.254.169.254", 80) is None
    assert rules.refusal("::1", 80) is not None


def test_a_bad_allow_list_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"SHAKEDOWN_OUTBOUND_ALLOW: 'ten\.0' is not"):
        outbound.parse_allow("10.0.0.0/8,ten.0")


def test_configure_counts_the_api_server_a_kubeconfig_names() -> None:
    rules = outbound.configure("", ["https://127.0.0.1:6443"])
    assert (ipaddress.ip_address("127.0.0.1"), 6443) in rules.api_servers


# ------------------------------------------------------------------ through the real clients
def test_git_to_loopback_is_refused_by_default(server: ScriptedServer) -> None:
    outbound.reset(STRICT)
    with pytest.raises(SourceError, match="loopback"):
        resolve_git_revision(server.url + "/repo.git", "main")
    assert server.seen == [], "nothing reached the server"


def test_a_redirect_to_a_refused_address_is_not_followed(server: ScriptedServer) -> None:
    with scripted_server() as metadata:
        # The first server is allowed; it redirects to one on another loopback address.
        outbound.reset(outbound.OutboundPolicy(allow=outbound.parse_allow(_host(server))))
        target = metadata.url  # 127.0.0.1 too: move it to 127.0.0.2, which is not allowed
        elsewhere = target.replace("127.0.0.1", "127.0.0.2")
        server.on("/repo.git/info/refs", Reply(302, b"", {"Location": elsewhere + "/x"}))
        with pytest.raises(SourceError, match=r"127\.0\.0\.2.*loopback"):
            resolve_git_revision(server.url + "/repo.git", "main")
        assert metadata.seen == []


def test_a_webhook_to_loopback_is_refused_with_the_reason(server: ScriptedServer) -> None:
    outbound.reset(STRICT)
    with pytest.raises(notify.NotifyError, match="loopback"):
        notify.post(server.url + "/hook", {"text": "hi"}, token="t0ken")
    assert server.seen == []


def test_a_webhook_on_the_allow_list_is_posted(server: ScriptedServer) -> None:
    server.on("/hook", Reply(204))
    assert notify.post(server.url + "/hook", {"text": "hi"}) == 204


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_prometheus_on_loopback_is_refused(server: ScriptedServer, name: str) -> None:
    outbound.reset(STRICT)
    address = server.url.replace("127.0.0.1", name)
    with pytest.raises(QueryError, match="loopback"):
        asyncio.run(query(Connection(address), "up"))
    assert server.seen == []


def test_prometheus_on_the_allow_list_answers(server: ScriptedServer) -> None:
    body = b'{"status":"success","data":{"resultType":"scalar","result":[0,"1"]}}'
    server.on("/api/v1/query", Reply(200, body))
    assert asyncio.run(query(Connection(server.url), "up")) == 1.0


# ------------------------------------------------------------------ registry token services
@pytest.mark.parametrize(
    ("registry", "realm", "trusted"),
    [
        ("quay.io", "https://quay.io/v2/auth", True),
        ("registry.example:5000", "https://registry.example/token", True),
        ("registry-1.docker.io", "https://auth.docker.io/token", True),
        ("ghcr.io", "https://ghcr.io/token", True),
        ("registry.example", "https://collector.evil/token", False),
        ("registry.example", "https://registry.example.evil/token", False),
        ("registry.example", "file:///etc/passwd", False),
    ],
)
def test_credentials_go_only_to_the_registrys_own_token_service(
    registry: str, realm: str, trusted: bool
) -> None:
    assert token_service_trusted(registry, realm) is trusted


def test_a_declared_token_service_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAKEDOWN_REGISTRY_TOKEN_HOSTS", "registry.example=auth.example:8443")
    assert token_service_trusted("registry.example", "https://auth.example:8443/token")
    assert not token_service_trusted("registry.example", "https://auth.example/token")


def test_a_registry_naming_another_hosts_token_service_gets_no_credentials(
    server: ScriptedServer,
) -> None:
    with scripted_server() as collector:
        realm = collector.url.replace("127.0.0.1", "localhost") + "/token"
        challenge = f'Bearer realm="{realm}",service="r",scope="repository:app:pull"'
        server.on("/v2/", Reply(200, b"{}"))
        server.on("/v2/app/manifests/v1", Reply(401, b"", {"WWW-Authenticate": challenge}))
        client = RegistryClient(server.netloc, insecure=True, credentials=("robot", "s3cret"))
        with pytest.raises(RegistryError, match="credentials are not sent"):
            client.get_manifest("app", "v1")
        assert collector.seen == []


def _host(server: ScriptedServer) -> str:
    return server.netloc.rsplit(":", 1)[0]
