"""The builder image the in-cluster build Jobs run, built for the local cluster.

What goes into the image (its Debian packages and repository) is production
knowledge and stays in ``shakedown.adapters.builder``; building it with
debootstrap and buildah is development tooling, so it lives here: the
operator never imports ``localcluster``.
"""

from __future__ import annotations

from shakedown.adapters.builder import BUILDER_PACKAGES, BUILDER_REPOSITORY
from shakedown.localcluster.images import build_debian_image
from shakedown.localcluster.layout import Layout


def build_builder_image() -> str:
    """Build the builder image from Debian packages into the local registry; its by-digest ref.

    Cached by inputs: when the registry already holds it, nothing is rebuilt.
    """
    ref = build_debian_image(
        Layout.default(),
        BUILDER_REPOSITORY,
        packages=BUILDER_PACKAGES,
        entrypoint=["/bin/sh", "-c"],
        say=lambda _: None,
    )
    return ref.by_digest
