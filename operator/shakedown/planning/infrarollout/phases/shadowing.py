"""Phase 3, Shadowing: the shadow namespace and its copies of the changed workloads."""

from __future__ import annotations

from shakedown.api.infrarollout import InfraRolloutSpec, RolloutPhase
from shakedown.planning.infrarollout.actions import Apply, DeleteNamespace, EnsureNamespace
from shakedown.planning.infrarollout.confinement import pod_security_labels, quota_objects
from shakedown.planning.infrarollout.endings import fail
from shakedown.planning.infrarollout.objects import (
    Meta,
    Obj,
    ObjKey,
    is_applied,
    with_applied_annotation,
)
from shakedown.planning.infrarollout.shadow import (
    OWNER_ANNOTATION,
    RolloutIdentity,
    apply_order,
    namespace_manifest,
    network_policy,
    shadow_namespace_name,
    shadow_objects,
)
from shakedown.planning.infrarollout.smoke import initial_checks
from shakedown.planning.infrarollout.step import Observed, Step, shift_context


def plan_shadowing(spec: InfraRolloutSpec, observed: Observed, step: Step) -> None:
    status = step.status
    who = observed.who(status.revision)
    ns_name = status.shadow_namespace or shadow_namespace_name(
        observed.namespace, observed.name, status.revision
    )
    ns = observed.shadow_namespace
    if shadow_expired(step):
        fail(spec, observed, step, "ShadowExpired", f"shadow.ttl {spec.shadow.ttl} ran out")
        return
    meta = Meta.of(ns)
    owner = meta.annotations.get(OWNER_ANNOTATION)
    if ns is not None and owner != f"{who.namespace}/{who.name}/{who.uid}":
        # Left by an earlier InfraRollout of the same name: clear it, then start afresh.
        if not meta.deleting:
            step.actions.append(DeleteNamespace(ns_name))
        step.update(waiting_for=f"namespace {ns_name} of an earlier rollout is being deleted")
        step.poll()
        return
    if meta.deleting:
        fail(spec, observed, step, "ShadowDeleted", f"shadow namespace {ns_name} is being deleted")
        return
    if ns is None:
        expires = status.shadow_expires_at or step.now
        labels = pod_security_labels(observed.namespace_labels)
        step.actions.append(EnsureNamespace(namespace_manifest(ns_name, who, expires, labels)))
        step.again = True
        return
    wanted = _shadow_wanted(spec, observed, step, who)
    pending = [
        Apply(ns_name, with_applied_annotation(obj), "shadow copy")
        for key, obj in sorted(wanted.items(), key=lambda kv: apply_order(kv[0]))
        if not is_applied(obj, observed.shadow_objects.get(key))
    ]
    if pending:
        step.actions.extend(pending)
        step.again = True
        return
    step.enter(
        RolloutPhase.SMOKE_TESTING,
        f"shadow copies created in {ns_name}; smoke testing",
        checks=initial_checks(spec),
    )


def _shadow_wanted(
    spec: InfraRolloutSpec, observed: Observed, step: Step, who: RolloutIdentity
) -> dict[ObjKey, Obj]:
    ctx = shift_context(spec, observed, step)
    wanted = shadow_objects(
        ctx.desired, who=who, replicas=spec.shadow.replicas, copy_secrets=spec.shadow.copy_secrets
    )
    wanted.update(quota_objects(observed.quotas, who.labels()))
    if spec.shadow.isolate:
        policy = network_policy(who)
        wanted[ObjKey.of(policy)] = policy
    return wanted


def shadow_expired(step: Step) -> bool:
    expires = step.status.shadow_expires_at
    return expires is not None and step.now >= expires
