"""The builder image the in-cluster build Jobs run, built for the local cluster.

What goes into the image (its Debian packages and repository) is production
knowledge and stays in ``shakedown.adapters.builder``; the recipe is
images/builder/Containerfile, the one a user's CI builds. Building it here on a
debootstrap base with buildah is development tooling, so it lives here: the
operator never imports ``localcluster``.
"""

from __future__ import annotations

from shakedown.adapters.builder import BUILDER_PACKAGES, BUILDER_REPOSITORY
from shakedown.localcluster.images import build_image
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.operator_image import build_debian_base, containerfile

#: The debootstrap image (with BUILDER_PACKAGES) the Containerfile is built FROM here.
BASE_NAME = "builder-base"


def build_builder_image() -> str:
    """Build the builder image into the local registry; its by-digest ref.

    Cached by inputs: when the registry already holds it, nothing is rebuilt.
    """
    layout = Layout.default()
    base = build_debian_base(layout, BASE_NAME, BUILDER_PACKAGES, lambda _: None)
    ref = build_image(
        layout,
        BUILDER_REPOSITORY,
        containerfile=containerfile(BUILDER_REPOSITORY).read_text(encoding="utf-8"),
        context={},
        build_args={"BASE": base.by_digest},
        say=lambda _: None,
    )
    return ref.by_digest
