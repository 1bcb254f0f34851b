"""Where the operator may open connections on behalf of a spec.

A ContainerImageRefresh or InfraRollout names URLs (a webhook, a Prometheus, a
Git host, a registry), and the operator, not the author, connects to them. On a
cloud node that turns every namespace's author into someone who can make the
operator ask the instance metadata service (169.254.169.254) for credentials,
poke services bound to the node's loopback, or replay requests against the API
server. So connections to link-local, loopback, unspecified and multicast
addresses, and to the API server's own address and port, are refused unless
the operator was started with an explicit allow-list
(``SHAKEDOWN_OUTBOUND_ALLOW``, comma-separated CIDRs).

The check runs on the *resolved* address, at connect time (``connect``), so a
host name that resolves to a metadata address, a redirect to one, or a DNS
answer that changes between a check and the connection are all caught.
Private ranges (10/8, 172.16/12, 192.168/16) stay allowed: in-cluster
registries, Git servers and Prometheus live there.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

ALLOW_ENV = "SHAKEDOWN_OUTBOUND_ALLOW"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(OSError):
    """A connection the policy refuses; an OSError so HTTP clients report it as one."""

    def __init__(self, message: str) -> None:
        # strerror carries the reason: aiohttp shows only that of the OSError it wraps.
        super().__init__(errno.EACCES, message)

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which resolved addresses the operator may connect to."""

    allow: tuple[Network, ...] = ()
    api_servers: frozenset[tuple[Address, int]] = field(default_factory=frozenset)

    def refusal(self, host: str, port: int) -> str | None:
        """Why connecting to ``host`` (an IP address) on ``port`` is refused, or None."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return f"{host} is not an IP address"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return None
        kind = _forbidden_kind(address)
        if kind is None and (address, port) in self.api_servers:
            kind = "the Kubernetes API server"
        if kind is None:
            return None
        return (
            f"{address} port {port} is {kind}; the operator does not connect there "
            f"unless started with {ALLOW_ENV} covering it"
        )


def _forbidden_kind(address: Address) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where clouds serve instance metadata)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    return None


def parse_allow(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated allow-list; raises ValueError naming a bad entry."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{ALLOW_ENV}: {item!r} is not an address or CIDR") from None
    return tuple(networks)


_policy: OutboundPolicy | None = None


def configure(allow: str, api_servers: Iterable[str] = ()) -> OutboundPolicy:
    """Set the process's policy: an allow-list and the API server URLs to refuse.

    The in-cluster API server (``KUBERNETES_SERVICE_HOST``/``_PORT``) is always
    among them. Raises ValueError naming a bad allow-list entry.
    """
    global _policy
    urls = list(api_servers)
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    if host:
        urls.append(f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}")
    servers: set[tuple[Address, int]] = set()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        try:
            port_number = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        if parts.hostname:
            servers |= _addresses(parts.hostname, port_number)
    _policy = OutboundPolicy(parse_allow(allow), frozenset(servers))
    return _policy


def policy() -> OutboundPolicy:
    """The process's policy (from the environment, until ``configure`` is called)."""
    if _policy is None:
        try:
            return configure(os.environ.get(ALLOW_ENV, ""))
        except ValueError:
            return configure("")
    return _policy


def reset(new: OutboundPolicy | None = None) -> None:
    """Replace the process's policy (tests; None reads the environment again)."""
    global _policy
    _policy = new


def _addresses(host: str, port: int) -> frozenset[tuple[Address, int]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    found: set[tuple[Address, int]] = set()
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        found.add((address, port))
    return frozenset(found)


def connect(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    *_: object,
) -> socket.socket:
    """``socket.create_connection`` that refuses what the policy refuses, per resolved address."""
    host, port = address
    rules = policy()
    last: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        why = rules.refusal(str(sockaddr[0]), port)
        if why is not None:
            last = OutboundRefused(f"{host}: {why}")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last if last is not None else OSError(f"{host}: no address")


def check_literal(hosts: Iterable[str], port: int) -> None:
    """Refuse IP-literal hosts up front, for clients that skip name resolution for them."""
    rules = policy()
    for host in hosts:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue
        why = rules.refusal(host.strip("[]"), port)
        if why is not None:
            raise OutboundRefused(f"{host}: {why}")
