"""When a new revision starts: the change hash, and ``imageFrom`` resolved.

A revision is one attempt to roll out one distinct change. Its identity is a
hash over everything that decides what production would receive: the targets,
``spec.change``, the digest a ContainerImageRefresh promoted (for
``imageFrom``), and ``promote: false`` (proving is not shipping). The knobs of
*how* to roll out (strategy, checks, bake) are not part of it, so tuning a
check does not re-run a rollout that already ended, and a change that was
rolled back is not retried until it changes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from shakedown.api.infrarollout import InfraRolloutSpec, InfraRolloutStatus
from shakedown.planning.infrarollout.change import ResolvedChange
from shakedown.planning.infrarollout.objects import ObjKey, short_hash


@dataclass(frozen=True)
class ImageSource:
    """What the ContainerImageRefresh behind ``imageFrom`` currently offers."""

    repository: str | None
    digest: str | None
    error: str | None = None

    @property
    def image(self) -> str | None:
        if self.repository and self.digest:
            return f"{self.repository}@{self.digest}"
        return None


def resolve_change(spec: InfraRolloutSpec, source: ImageSource | None) -> ResolvedChange:
    """``spec.change`` as plain data, with the ``imageFrom`` image added."""
    images = [(i.container, i.image) for i in spec.change.images]
    if spec.image_from is not None and source is not None and source.image is not None:
        images.append((spec.image_from.container, source.image))
    patches = tuple(
        (ObjKey(str(p.target.kind), p.target.name), p.type, p.patch) for p in spec.change.patches
    )
    return ResolvedChange(
        images=tuple(images), patches=patches, manifests=tuple(spec.change.manifests)
    )


def change_hash(spec: InfraRolloutSpec, change: ResolvedChange) -> str:
    targets = sorted(f"{t.kind}/{t.name}" for t in spec.targets)
    content: dict[str, object] = {
        "targets": targets,
        "images": sorted(change.images),
        "patches": [(str(k), str(t), p) for k, t, p in change.patches],
        "manifests": list(change.manifests),
    }
    if not spec.promote:
        # Proving is a different revision from shipping: setting promote back to
        # true after Validated starts one that shifts. Only added when false, so
        # the hashes of existing rollouts do not change.
        content["promote"] = False
    return short_hash(content)


@dataclass(frozen=True)
class RevisionCheck:
    """Whether the spec asks for a revision that has not been attempted."""

    wanted_hash: str | None
    """The hash the spec asks for; None while imageFrom has nothing to offer."""
    waiting_for: str | None
    """Why no revision can start yet."""

    def is_new(self, status: InfraRolloutStatus) -> bool:
        return self.wanted_hash is not None and self.wanted_hash != status.change_hash


def check_revision(spec: InfraRolloutSpec, source: ImageSource | None) -> RevisionCheck:
    if spec.image_from is not None:
        if source is None or source.error:
            detail = source.error if source is not None and source.error else "not found"
            return RevisionCheck(
                None,
                f"ContainerImageRefresh {spec.image_from.container_image_refresh}: {detail}",
            )
        if source.image is None:
            return RevisionCheck(
                None,
                f"ContainerImageRefresh {spec.image_from.container_image_refresh} "
                "has not promoted a digest yet",
            )
    return RevisionCheck(change_hash(spec, resolve_change(spec, source)), None)
