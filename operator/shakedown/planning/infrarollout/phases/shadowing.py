"""Phase 3, Shadowing: the shadow namespace and its copies of the changed workloads."""

from __future__ import annotations

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, DeleteNamespace, EnsureNamespace
from shakedown.planning.infrarollout.confinement import pod_security_labels, quota_objects
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.objects import (
    Meta,
    Obj,
    ObjKey,
    is_applied,
    with_applied_annotation,
)
from shakedown.planning.infrarollout.shadow import (
    OWNER_ANNOTATION,
    apply_order,
    namespace_manifest,
    network_policy,
    shadow_namespace_name,
    shadow_objects,
)
from shakedown.planning.infrarollout.smoke import initial_checks


def plan_shadowing(run: RunContext) -> None:
    observed = run.observed
    ns_name = run.status.shadow_namespace or shadow_namespace_name(
        observed.namespace, observed.name, run.status.revision
    )
    ns = observed.shadow_namespace
    if shadow_expired(run):
        run.fail("ShadowExpired", f"shadow.ttl {run.spec.shadow.ttl} ran out")
        return
    meta = Meta.of(ns)
    owner = meta.annotations.get(OWNER_ANNOTATION)
    who = run.who
    if ns is not None and owner != f"{who.namespace}/{who.name}/{who.uid}":
        # Left by an earlier InfraRollout of the same name: clear it, then start afresh.
        if not meta.deleting:
            run.step.actions.append(DeleteNamespace(ns_name))
        run.step.update(waiting_for=f"namespace {ns_name} of an earlier rollout is being deleted")
        run.step.poll()
        return
    if meta.deleting:
        run.fail("ShadowDeleted", f"shadow namespace {ns_name} is being deleted")
        return
    if ns is None:
        expires = run.status.shadow_expires_at or run.now
        labels = pod_security_labels(observed.namespace_labels)
        run.step.actions.append(EnsureNamespace(namespace_manifest(ns_name, who, expires, labels)))
        run.step.again = True
        return
    pending = [
        Apply(ns_name, with_applied_annotation(obj), "shadow copy")
        for key, obj in sorted(_shadow_wanted(run).items(), key=lambda kv: apply_order(kv[0]))
        if not is_applied(obj, observed.shadow_objects.get(key))
    ]
    if pending:
        run.step.actions.extend(pending)
        run.step.again = True
        return
    run.step.enter(
        RolloutPhase.SMOKE_TESTING,
        f"shadow copies created in {ns_name}; smoke testing",
        checks=initial_checks(run.spec),
    )


def _shadow_wanted(run: RunContext) -> dict[ObjKey, Obj]:
    shadow, who = run.spec.shadow, run.who
    wanted = shadow_objects(
        run.shift_context().desired,
        who=who,
        replicas=shadow.replicas,
        copy_secrets=shadow.copy_secrets,
    )
    wanted.update(quota_objects(run.observed.quotas, who.labels()))
    if shadow.isolate:
        policy = network_policy(who)
        wanted[ObjKey.of(policy)] = policy
    return wanted


def shadow_expired(run: RunContext) -> bool:
    expires = run.status.shadow_expires_at
    return expires is not None and run.now >= expires
