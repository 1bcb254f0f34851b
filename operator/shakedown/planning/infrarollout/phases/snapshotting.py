"""Phase 2, Snapshotting: store production as it is, then validate the change against it."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import RolloutPhase, Snapshot, SnapshotTarget, TargetKind
from shakedown.planning.infrarollout.actions import StoreSnapshot
from shakedown.planning.infrarollout.change import ChangeError
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.objects import WORKLOAD_KINDS, ObjKey
from shakedown.planning.infrarollout.revision import resolve_change
from shakedown.planning.infrarollout.shadow import shadow_namespace_name
from shakedown.planning.infrarollout.snapshot import (
    SnapshotContent,
    snapshot_keys,
    snapshot_name,
    too_large,
)
from shakedown.planning.infrarollout.strategic import resolve_strategic


def plan_snapshotting(run: RunContext) -> None:
    name = snapshot_name(run.observed.name, run.status.revision)
    if run.observed.snapshot is None:
        production = run.observed.production
        missing = [k for k in run.targets if k.kind in WORKLOAD_KINDS and production.get(k) is None]
        change = resolve_change(run.spec, run.observed.image_source)
        missing = [k for k in missing if change.manifest_for(k) is None]
        if missing:
            run.fail("TargetNotFound", f"spec.targets: {', '.join(map(str, missing))} not found")
            return
        services = run.observed.services
        keys = snapshot_keys(run.targets, production, services, run.spec.shadow.copy_secrets)
        strategic, problem = resolve_strategic(
            run.spec, change, production, run.observed.strategic_previews
        )
        if problem:
            run.fail("InvalidChange", problem)
            return
        known = {**{ObjKey.of(s): s for s in services}, **production}
        data = SnapshotContent.capture(keys, known, strategic).to_secret_data()
        oversize = too_large(name, data)
        if oversize:
            run.fail("SnapshotTooLarge", oversize)
            return
        who = run.who
        run.step.actions.append(StoreSnapshot(name, data, who.labels(), who.owner_reference()))
        run.step.again = True
        return
    snapshot = run.observed.snapshot.objects
    problem = _validate_revision(run)
    if problem:
        run.fail("InvalidChange", problem)
        return
    entries = [
        SnapshotTarget(
            kind=TargetKind(k.kind),
            name=k.name,
            resource_version="",
            existed=snapshot.get(k) is not None,
        )
        for k in run.targets
    ]
    run.step.update(snapshot=Snapshot(secret=name, taken_at=run.now, targets=entries))
    ns = shadow_namespace_name(run.observed.namespace, run.observed.name, run.status.revision)
    expires = run.now + timedelta(seconds=parse_duration(run.spec.shadow.ttl))
    run.step.enter(
        RolloutPhase.SHADOWING,
        f"snapshot {name} stored; creating shadow namespace {ns}",
        shadow_namespace=ns,
        shadow_expires_at=expires,
    )


def _validate_revision(run: RunContext) -> str | None:
    try:
        ctx = run.shift_context()
    except ChangeError as exc:
        return str(exc)
    return run.strategy.validate(ctx)
