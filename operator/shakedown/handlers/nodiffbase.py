"""kopf keeps no copy of a spec on our objects: a diff base that stores nothing.

kopf remembers the last spec it handled (its "diff base", by default an
annotation holding the whole spec) only to tell create from update for its
change handlers. shakedown has one change handler left, the InfraRollout
finalizer (``handlers.infrarollout.finalize``, a deletion handler): the
runners judge every spec and follow every change themselves. kopf still
stores a diff base for a rollout in flight, after each change of its spec,
labels or annotations, though nothing reads it: a PATCH each time and a second
copy of the spec on the object, close to the 256 KiB annotation limit for a big
spec.

``NoDiffBase`` is a ``kopf.DiffBaseStorage`` (kopf's documented extension
point for ``settings.persistence.diffbase_storage``) that remembers nothing.
kopf then sees every event of a rollout as a creation, for which no handler is
registered, and a deletion as a deletion, since that is told from
``metadata.deletionTimestamp`` before any diff base is looked at. The
annotations earlier versions left (``shakedown.dev/last-handled-configuration``,
``shakedown.dev/kopf-managed``) are never read again, and the runners ignore
them (``adapters.wakeups``).
"""

from __future__ import annotations

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is never stored, so never found."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
