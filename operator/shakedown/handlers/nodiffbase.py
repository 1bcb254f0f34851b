"""kopf keeps no copy of a spec on our objects: a diff base that stores nothing.

kopf remembers the last spec it handled (its "diff base", by default an
annotation holding the whole spec) only to tell create from update for its
change handlers. shakedown has one change handler left, the InfraRollout
finalizer (``handlers.infrarollout.finalize``, a deletion handler): the
runners judge every spec and follow every change themselves. With its
annotation storage kopf would still store a diff base on a rollout in flight,
after each change of its spec, labels or annotations, though nothing reads it:
a PATCH each time, and a second copy of the spec on the object (close to the
256 KiB annotation limit for a big spec).

``NoDiffBase`` is a ``kopf.DiffBaseStorage`` (kopf's documented extension
point for ``settings.persistence.diffbase_storage``) that stores nothing and
answers every lookup with the object as it is now. kopf then sees no change in
any event, so it has nothing to handle and nothing to store (not even a
creation, which would log the whole body each time), while a deletion is still
a deletion: kopf tells it from ``metadata.deletionTimestamp`` before any diff
base is looked at. The annotations earlier versions left
(``shakedown.dev/last-handled-configuration``, ``shakedown.dev/kopf-managed``)
are never read again, and the runners ignore them (``adapters.wakeups``).
"""

from __future__ import annotations

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is never stored: the last handled state is always the present one."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return self.build(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
