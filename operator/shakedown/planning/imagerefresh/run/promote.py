"""Promoting: ask for the tag move until the tag is observed at the candidate."""

from __future__ import annotations

from shakedown.planning.imagerefresh.observed import MoveTag
from shakedown.planning.imagerefresh.run.context import RunContext
from shakedown.planning.imagerefresh.run.records import Step, timing


def promote(ctx: RunContext) -> Step:
    """A repeated request cannot move the tag twice, so asking again after a restart is safe."""
    spec, run, obs = ctx.spec, ctx.run, ctx.observed
    assert run.candidate_digest is not None
    if not obs.tag_resolved:
        return ctx.stay()  # the handler resolves the tag while promoting
    if obs.tag_digest != run.candidate_digest:
        return ctx.stay(MoveTag(digest=run.candidate_digest, why="promote"))
    run = run.evolve(promoted=True, phases=timing(run.phases, "Promote", finished=obs.now))
    return ctx.with_run(run).succeed(f"promoted {spec.image}:{spec.tag} -> {run.candidate_digest}")
