"""Which token service may receive the credentials issued for a registry.

A registry's 401 challenge names its token service (the bearer ``realm``), and
a registry that is not the one the credentials were issued for (a hostile or
compromised mirror) could name any host to collect them. So push credentials
go to the registry's own host, to a known pair (Docker Hub's), or to a pair
the operator declares; anywhere else the token request is refused.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping

#: Where Docker Hub's registry API answers.
DOCKER_HUB_API = "registry-1.docker.io"

#: Registries whose token service is on another host by design.
KNOWN_TOKEN_HOSTS: Mapping[str, frozenset[str]] = {DOCKER_HUB_API: frozenset({"auth.docker.io"})}
#: Operator setting: more such pairs, ``registry=tokenhost,registry=tokenhost``.
TOKEN_HOSTS_ENV = "SHAKEDOWN_REGISTRY_TOKEN_HOSTS"


def token_service_trusted(registry_host: str, realm: str) -> bool:
    """Whether a bearer ``realm`` may receive the credentials issued for ``registry_host``.

    A registry's challenge names its token service, and a registry that is not
    the one the credentials were issued for (a hostile or compromised mirror)
    could name any host to collect them. So they go to the registry's own host,
    to a known pair (Docker Hub's), or to a pair the operator declares.
    """
    parts = urllib.parse.urlsplit(realm)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    service = realm_host(realm)
    registry_name = registry_host.lower().partition(":")[0]
    if parts.hostname.lower() == registry_name:
        return True
    declared = dict(
        pair.strip().lower().split("=", 1)
        for pair in os.environ.get(TOKEN_HOSTS_ENV, "").split(",")
        if "=" in pair
    )
    allowed = KNOWN_TOKEN_HOSTS.get(registry_host.lower(), frozenset())
    return parts.scheme == "https" and (
        service in allowed or declared.get(registry_host.lower()) == service
    )


def realm_host(realm: str) -> str:
    """The host (and port, when not the scheme's default) of a token service URL."""
    parts = urllib.parse.urlsplit(realm)
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"
