"""Phase 2, Snapshotting: store production as it is, then validate the change against it."""

from __future__ import annotations

from datetime import timedelta

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    RolloutPhase,
    Snapshot,
    SnapshotTarget,
    TargetKind,
)
from shakedown.planning.infrarollout.actions import StoreSnapshot
from shakedown.planning.infrarollout.change import ChangeError
from shakedown.planning.infrarollout.endings import fail
from shakedown.planning.infrarollout.objects import WORKLOAD_KINDS, ObjKey
from shakedown.planning.infrarollout.revision import resolve_change
from shakedown.planning.infrarollout.shadow import shadow_namespace_name
from shakedown.planning.infrarollout.snapshot import (
    SnapshotContent,
    snapshot_keys,
    snapshot_name,
    too_large,
)
from shakedown.planning.infrarollout.step import (
    Observed,
    Step,
    shift_context,
    strategy_for,
    target_keys,
)
from shakedown.planning.infrarollout.strategic import resolve_strategic


def plan_snapshotting(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    status = step.status
    who = observed.who(status.revision)
    targets = target_keys(spec)
    name = snapshot_name(observed.name, status.revision)
    if observed.snapshot is None:
        missing = [
            k for k in targets if k.kind in WORKLOAD_KINDS and observed.production.get(k) is None
        ]
        change = resolve_change(spec, observed.image_source)
        missing = [k for k in missing if change.manifest_for(k) is None]
        if missing:
            fail(
                spec,
                observed,
                step,
                "TargetNotFound",
                f"spec.targets: {', '.join(map(str, missing))} not found",
            )
            return
        keys = snapshot_keys(
            targets, observed.production, observed.services, spec.shadow.copy_secrets
        )
        strategic, problem = resolve_strategic(
            spec, change, observed.production, observed.strategic_previews
        )
        if problem:
            fail(spec, observed, step, "InvalidChange", problem)
            return
        known = {**{ObjKey.of(s): s for s in observed.services}, **observed.production}
        data = SnapshotContent.capture(keys, known, strategic).to_secret_data()
        oversize = too_large(name, data)
        if oversize:
            fail(spec, observed, step, "SnapshotTooLarge", oversize)
            return
        step.actions.append(StoreSnapshot(name, data, who.labels(), who.owner_reference()))
        step.again = True
        return
    snapshot = observed.snapshot.objects
    problem = _validate_revision(spec, observed, step)
    if problem:
        fail(spec, observed, step, "InvalidChange", problem)
        return
    entries = [
        SnapshotTarget(
            kind=TargetKind(k.kind),
            name=k.name,
            resource_version="",
            existed=snapshot.get(k) is not None,
        )
        for k in targets
    ]
    step.update(snapshot=Snapshot(secret=name, taken_at=step.now, targets=entries))
    ns = shadow_namespace_name(observed.namespace, observed.name, status.revision)
    expires = step.now + timedelta(seconds=parse_duration(spec.shadow.ttl))
    step.enter(
        RolloutPhase.SHADOWING,
        f"snapshot {name} stored; creating shadow namespace {ns}",
        shadow_namespace=ns,
        shadow_expires_at=expires,
    )


def _validate_revision(spec: InfraRolloutSpec, observed: Observed, step: Step) -> str | None:
    try:
        ctx = shift_context(spec, observed, step)
    except ChangeError as exc:
        return str(exc)
    return strategy_for(spec).validate(ctx)
