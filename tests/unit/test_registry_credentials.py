"""Which entry of a .dockerconfigjson serves which image, as docker and buildah decide it."""

from __future__ import annotations

import base64
import json

import pytest

from shakedown.adapters.registry import (
    ImageRef,
    RegistryClient,
    api_host,
    credentials_from_dockerconfig,
    registry_key,
)


def config(key: str, user: str = "robot", password: str = "pw") -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {key: {"auth": auth}}})


@pytest.mark.parametrize(
    ("key", "image", "matched"),
    [
        # Docker Hub, under each name docker login and people write
        ("https://index.docker.io/v1/", "busybox", True),
        ("https://index.docker.io/v1/", "myorg/app:1", True),
        ("https://index.docker.io/v1/", "docker.io/myorg/app", True),
        ("index.docker.io", "myorg/app", True),
        ("registry-1.docker.io", "library/busybox", True),
        ("docker.io", "busybox", True),
        ("https://registry-1.docker.io/v2/", "myorg/app", True),
        ("https://index.docker.io/v1/", "index.docker.io/myorg/app", True),
        ("https://index.docker.io/v1/", "quay.io/myorg/app", False),
        ("https://index.docker.io/v1/", "reg.test:5000/app", False),
        # other registries: a bare host, a URL with scheme, port and path
        ("reg.test:5000", "reg.test:5000/ci/app", True),
        ("https://reg.test:5000/v2/", "reg.test:5000/ci/app", True),
        ("http://reg.test:5000", "reg.test:5000/ci/app", True),
        ("reg.test:5000/ci", "reg.test:5000/ci/app", True),
        ("REG.test:5000", "reg.test:5000/ci/app", True),
        ("https://reg.test:5000/v2/", "reg.test/ci/app", False),
        ("https://reg.test/v2/", "reg.test:5000/ci/app", False),
        ("quay.io", "busybox", False),
    ],
)
def test_dockerconfig_keys_match_images(key: str, image: str, matched: bool) -> None:
    registry = ImageRef.parse(image).registry
    found = credentials_from_dockerconfig(config(key), registry)
    assert found == (("robot", "pw") if matched else None)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("https://reg.test:5000/v2/", "reg.test:5000"),
        ("https://user@reg.test/", "reg.test"),
        ("Reg.Test", "reg.test"),
    ],
)
def test_registry_keys(name: str, key: str) -> None:
    assert registry_key(name) == key


def test_docker_hub_images_are_asked_of_its_api_host() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("reg.test:5000") == "reg.test:5000"
    client = RegistryClient(ImageRef.parse("busybox").registry)
    assert (client.registry, client.host) == ("docker.io", "registry-1.docker.io")
