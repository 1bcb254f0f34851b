"""The registry client against the real registry (Debian's docker-registry, plain HTTP)."""

from __future__ import annotations

import hashlib
import socket

import pytest

from shakedown.adapters.registry import RegistryClient, RegistryError

pytestmark = pytest.mark.cluster


def test_resolve_and_fetch_by_digest(registry: str, busybox_image: str) -> None:
    reg = RegistryClient(registry, insecure=True)
    digest = reg.resolve("shakedown/busybox", "latest")
    assert digest is not None and digest.startswith("sha256:")
    manifest = reg.get_manifest("shakedown/busybox", digest)
    assert "sha256:" + hashlib.sha256(manifest.body).hexdigest() == digest
    assert manifest.media_type.startswith("application/vnd.")
    assert reg.resolve("shakedown/busybox", digest) == digest
    assert reg.resolve("shakedown/busybox", "no-such-tag") is None
    assert "latest" in reg.tags("shakedown/busybox")
    assert reg.tags("shakedown/no-such-repository") == []


def test_plain_http_is_refused_unless_allowed(registry: str, busybox_image: str) -> None:
    with pytest.raises(RegistryError, match=r"set spec.insecureRegistry: true"):
        RegistryClient(registry).resolve("shakedown/busybox", "latest")


def test_unreachable_registry_is_one_line(registry: str) -> None:
    host = registry.rsplit(":", 1)[0]
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    with pytest.raises(RegistryError, match=rf"{port}.*(unreachable|refused)"):
        RegistryClient(f"{host}:{port}", insecure=True).resolve("x/y", "latest")
