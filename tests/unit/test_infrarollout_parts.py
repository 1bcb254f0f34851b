"""InfraRollout planner pieces: change, configuration hash, shadow copies, bake, locks, checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    InfraRolloutStatus,
    PatchType,
    RolloutPhase,
)
from shakedown.planning.infrarollout.bake import judge_pods
from shakedown.planning.infrarollout.change import (
    ChangeError,
    ResolvedChange,
    apply_change,
    json_patch,
    merge_patch,
)
from shakedown.planning.infrarollout.desired import desired_objects
from shakedown.planning.infrarollout.locking import lease_name, plan_locks, plan_release
from shakedown.planning.infrarollout.objects import (
    CONFIG_HASH_ANNOTATION,
    Meta,
    Obj,
    ObjKey,
    config_refs,
    is_applied,
    with_applied_annotation,
)
from shakedown.planning.infrarollout.revision import ImageSource, check_revision
from shakedown.planning.infrarollout.shadow import (
    network_policy,
    shadow_namespace_name,
    shadow_objects,
)
from shakedown.planning.infrarollout.strategies.canary import canary_replicas

from .infrarollout_world import NOW, deployment, pod, rollout_identity

DEPLOY = ObjKey("Deployment", "web")
CONFIG = ObjKey("ConfigMap", "web-config")


def config(message: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config"},
        "data": {"MESSAGE": message},
    }


# --------------------------------------------------------------------------- change
def test_merge_patch_follows_rfc7396() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
    }
    # RFC 7396 appendix A: a null inside a new object is dropped, arrays replace whole
    # (nulls in them kept), and a non-object patch replaces the target.
    assert merge_patch({"a": "b"}, {"c": {"d": None}}) == {"a": "b", "c": {}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1, None]}) == {"a": [1, None]}
    assert merge_patch({"a": "foo"}, ["c"]) == ["c"]
    target = {"a": {"b": 1}}
    merge_patch(target, {"a": {"b": None}})
    assert target == {"a": {"b": 1}}, "the input is not modified"


def test_json_patch_add_replace_remove_and_test() -> None:
    doc = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    out = json_patch(
        doc,
        [
            {"op": "test", "path": "/spec/containers/0/name", "value": "a"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "y"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}},
            {"op": "remove", "path": "/spec/containers/1"},
        ],
    )
    assert out == {"spec": {"containers": [{"name": "a", "image": "y"}]}}
    assert doc["spec"]["containers"][0]["image"] == "x", "the input is not modified"


@pytest.mark.parametrize(
    ("ops", "why"),
    [
        # RFC 6902 4.1: the index must not be greater than the number of elements.
        ([{"op": "add", "path": "/data/list/9", "value": 3}], "outside of list"),
        ([{"op": "test", "path": "/data/MESSAGE", "value": "v2"}], "not equal"),
        ([{"op": "remove", "path": "/data/NOPE"}], "non-existent"),
        ([{"op": "replace", "path": "/data/NOPE", "value": "x"}], "non-existent"),
        ([{"op": "add", "path": "data/X", "value": "x"}], "must start with /"),
        ([{"op": "add", "path": "/data/list/01", "value": 3}], "not a valid"),
        ([{"op": "frob", "path": "/data"}], "Unknown operation"),
        ([{"op": "move", "from": "/data/NOPE", "path": "/data/X"}], "NOPE"),
        ({"op": "add", "path": "/data/X"}, "a list of operations"),
    ],
)
def test_an_invalid_json_patch_is_a_change_error_naming_the_field(ops: Any, why: str) -> None:
    obj = {**config(), "data": {"MESSAGE": "v1", "list": [1, 2]}}
    change = ResolvedChange(patches=((DEPLOY, PatchType.MERGE, {}), (CONFIG, PatchType.JSON, ops)))
    with pytest.raises(ChangeError, match=why) as raised:
        apply_change(obj, CONFIG, change)
    prefix = "spec.change.patches[1].patch (json patch of ConfigMap/web-config)"
    assert str(raised.value).startswith(prefix)


def test_json_patch_may_append_at_the_end_of_a_list() -> None:
    obj = {**config(), "data": {"list": [1, 2]}}
    change = ResolvedChange(
        patches=((CONFIG, PatchType.JSON, [{"op": "add", "path": "/data/list/2", "value": 3}]),)
    )
    out = apply_change(obj, CONFIG, change)
    assert out is not None and out["data"]["list"] == [1, 2, 3]


def test_a_strategic_patch_replays_what_the_api_server_computed() -> None:
    patch = {"data": {"MESSAGE": "v2"}}
    ops = [{"op": "replace", "path": "/data/MESSAGE", "value": "v2"}]
    change = ResolvedChange(patches=((CONFIG, PatchType.STRATEGIC, patch),), strategic=((0, ops),))
    out = apply_change(config(), CONFIG, change)
    assert out is not None and out["data"] == {"MESSAGE": "v2"}
    unresolved = ResolvedChange(patches=((CONFIG, PatchType.STRATEGIC, patch),))
    with pytest.raises(ChangeError, match=r"spec.change.patches\[0\].patch: .*API server"):
        apply_change(config(), CONFIG, unresolved)


def test_images_apply_to_every_workload_with_the_container() -> None:
    change = ResolvedChange(images=(("web", "reg/web@sha256:" + "a" * 64),))
    out = apply_change(deployment(), DEPLOY, change)
    assert out is not None
    assert out["spec"]["template"]["spec"]["containers"][0]["image"].endswith("a" * 64)
    assert apply_change(config(), CONFIG, change) == config(), "ConfigMaps have no images"


# --------------------------------------------------------------------------- configuration
def _template(desired: Mapping[ObjKey, Obj | None]) -> Obj:
    """The pod template of the desired Deployment (which must be there)."""
    deploy = desired[DEPLOY]
    assert deploy is not None
    template: Obj = deploy["spec"]["template"]
    return template


def test_a_configmap_change_rolls_the_workloads_that_use_it() -> None:
    snapshot = {DEPLOY: deployment(), CONFIG: config()}
    change = ResolvedChange(patches=((CONFIG, PatchType.MERGE, {"data": {"MESSAGE": "v2"}}),))
    first = _template(desired_objects(snapshot, change, [DEPLOY, CONFIG]))
    other = ResolvedChange(patches=((CONFIG, PatchType.MERGE, {"data": {"MESSAGE": "v3"}}),))
    second = _template(desired_objects(snapshot, other, [DEPLOY, CONFIG]))
    hash_of = CONFIG_HASH_ANNOTATION
    assert second["metadata"]["annotations"][hash_of] != first["metadata"]["annotations"][hash_of]


def test_an_image_only_change_adds_no_configuration_hash() -> None:
    snapshot = {DEPLOY: deployment(), CONFIG: config()}
    change = ResolvedChange(images=(("web", "reg/web:2"),))
    template = _template(desired_objects(snapshot, change, [DEPLOY, CONFIG]))
    annotations = template["metadata"].get("annotations", {})
    assert CONFIG_HASH_ANNOTATION not in annotations


def test_config_refs_cover_volumes_env_and_envfrom() -> None:
    obj = deployment()
    spec = obj["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "v", "secret": {"secretName": "tls"}}]
    spec["containers"][0]["env"] = [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "k"}}}
    ]
    assert config_refs(obj) == {CONFIG, ObjKey("Secret", "tls"), ObjKey("ConfigMap", "other")}


# --------------------------------------------------------------------------- shadow
def test_shadow_copies_are_fitted_to_their_namespace() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "uid": "u", "resourceVersion": "9"},
        "spec": {
            "clusterIP": "10.0.0.1",
            "clusterIPs": ["10.0.0.1"],
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "nodePort": 30000}],
        },
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {}}
    other = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "data": {}}
    desired = {
        DEPLOY: deployment(replicas=5),
        ObjKey("Service", "web"): service,
        ObjKey("Secret", "creds"): secret,
        ObjKey("Secret", "tls"): other,
    }
    copies = shadow_objects(desired, who=rollout_identity(), replicas=1, copy_secrets=["creds"])
    assert set(copies) == {DEPLOY, ObjKey("Service", "web"), ObjKey("Secret", "creds")}
    assert copies[DEPLOY]["spec"]["replicas"] == 1
    assert copies[DEPLOY]["metadata"]["labels"]["shakedown.dev/infrarollout"] == "change"
    svc = copies[ObjKey("Service", "web")]
    assert "clusterIP" not in svc["spec"] and svc["spec"]["type"] == "ClusterIP"
    assert "nodePort" not in svc["spec"]["ports"][0]
    assert "uid" not in svc["metadata"] and "resourceVersion" not in svc["metadata"]


def test_shadow_namespace_names_fit_the_limit() -> None:
    assert shadow_namespace_name("infra", "tasks", 4) == "infra-shadow-tasks-4"
    long = shadow_namespace_name("n" * 40, "r" * 40, 12)
    assert len(long) <= 63


def test_isolation_denies_everything_but_the_namespace_and_dns() -> None:
    policy = network_policy(rollout_identity())
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert policy["spec"]["egress"][0] == {"to": [{"podSelector": {}}]}


def test_isolation_lets_dns_through_after_the_service_address_is_translated() -> None:
    # Policies match the DNS pod's own port, not the kube-dns Service's 53: CoreDNS
    # listens on 1053 on the local cluster, under the container port names "dns"
    # and "dns-tcp"; a policy allowing only 53 cut the shadow off DNS once enforced.
    policy = network_policy(rollout_identity())
    dns = policy["spec"]["egress"][1]
    assert dns["to"] == [{"namespaceSelector": {}}]
    allowed = {(p["protocol"], p["port"]) for p in dns["ports"]}
    assert {("UDP", "dns"), ("TCP", "dns-tcp"), ("UDP", 53), ("TCP", 53)} == allowed


# --------------------------------------------------------------------------- applied
def test_applied_objects_are_recognised_and_untouched_ones_too() -> None:
    desired = deployment()
    live = with_applied_annotation(desired)
    live["status"] = {"readyReplicas": 2}
    live["spec"]["progressDeadlineSeconds"] = 600  # a server default
    assert is_applied(desired, live)
    assert is_applied(desired, {**desired, "metadata": {**desired["metadata"], "uid": "x"}})
    changed = deployment(replicas=3)
    assert not is_applied(changed, live)
    assert not is_applied(desired, None)


# --------------------------------------------------------------------------- bake
def judge(pods: list[dict[str, Any]], now: datetime = NOW) -> Any:
    return judge_pods(
        pods, not_ready_for=10, max_restarts=2, since=NOW - timedelta(minutes=1), now=now
    )


def test_a_pod_that_was_ready_fails_after_not_ready_for() -> None:
    failing = pod(
        "a", ready=False, since=NOW - timedelta(seconds=4), started=NOW - timedelta(seconds=30)
    )
    verdict = judge([failing])
    assert not verdict.failed
    assert verdict.recheck_at == NOW + timedelta(seconds=6)
    later = judge([failing], now=NOW + timedelta(seconds=6))
    assert later.failed and later.reason == "NotReady"
    assert later.observable_at == NOW + timedelta(seconds=6)


def test_a_starting_pod_gets_an_allowance() -> None:
    starting = pod(
        "a",
        ready=False,
        since=NOW - timedelta(seconds=15),
        started=NOW - timedelta(seconds=15),
        created=NOW - timedelta(seconds=15),
    )
    assert not judge([starting]).failed
    assert judge([starting], now=NOW + timedelta(seconds=30)).failed


def test_restarts_beyond_the_limit_fail_only_for_pods_since_the_shift() -> None:
    new = pod("new", restarts=3, created=NOW - timedelta(seconds=5))
    old = pod("old", restarts=30, created=NOW - timedelta(days=3))
    assert judge([new]).reason == "Restarts"
    assert not judge([old]).failed


def test_crash_loops_fail_at_once() -> None:
    crashing = pod("c", ready=False, waiting="CrashLoopBackOff", created=NOW - timedelta(seconds=5))
    assert judge([crashing]).reason == "CrashLoopBackOff"


def test_terminating_pods_are_not_judged() -> None:
    going = pod(
        "g", ready=False, since=NOW - timedelta(minutes=5), started=NOW - timedelta(minutes=9)
    )
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not judge([going]).failed


# --------------------------------------------------------------------------- canary / locks
@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [(4, 25, 1), (4, 50, 2), (3, 50, 2), (2, 1, 1), (5, 100, 5), (5, 0, 0)],
)
def test_canary_replicas(total: int, weight: int, expected: int) -> None:
    assert canary_replicas(total, weight) == expected


def test_locks_are_taken_in_one_order_and_a_holder_blocks() -> None:
    keys = [DEPLOY, CONFIG]
    first = plan_locks(keys, {}, me="ns/a/1", owner={})
    assert [a.key for a in first.actions] == [CONFIG], "sorted: ConfigMap before Deployment"
    blocked = plan_locks(keys, {CONFIG: "ns/a/1", DEPLOY: "ns/other/2"}, me="ns/a/1", owner={})
    assert blocked.blocked_by == "InfraRollout other (holds Deployment/web)"
    done = plan_locks(keys, {CONFIG: "ns/a/1", DEPLOY: "ns/a/1"}, me="ns/a/1", owner={})
    assert done.held
    release = plan_release({CONFIG: "ns/a/1", DEPLOY: "ns/other/2"}, me="ns/a/1")
    assert [r.lease for r in release] == [lease_name(CONFIG)]


# --------------------------------------------------------------------------- revisions
def spec(**extra: Any) -> InfraRolloutSpec:
    base: dict[str, Any] = {
        "targets": [{"kind": "Deployment", "name": "web"}],
        "change": {"images": [{"container": "web", "image": "reg/web:2"}]},
    }
    base.update(extra)
    return InfraRolloutSpec.model_validate(base)


def test_tuning_checks_does_not_start_a_revision_but_changing_the_change_does() -> None:
    first = check_revision(spec(), None).wanted_hash
    status = InfraRolloutStatus(change_hash=first, revision=1, phase=RolloutPhase.ROLLED_BACK)
    assert not check_revision(spec(bake="1m", smokeTests={"readyFor": "5s"}), None).is_new(status)
    other = spec(change={"images": [{"container": "web", "image": "reg/web:3"}]})
    assert check_revision(other, None).is_new(status)


def test_a_promotion_behind_image_from_starts_a_revision() -> None:
    chained = spec(change={}, imageFrom={"containerImageRefresh": "web-image", "container": "web"})
    waiting = check_revision(chained, ImageSource("reg/web", None))
    assert waiting.wanted_hash is None and "has not promoted" in (waiting.waiting_for or "")
    one = check_revision(chained, ImageSource("reg/web", "sha256:" + "1" * 64)).wanted_hash
    two = check_revision(chained, ImageSource("reg/web", "sha256:" + "2" * 64)).wanted_hash
    assert one and two and one != two


# --------------------------------------------------------------------------- conditions / metrics
def test_now_is_timezone_aware() -> None:
    assert NOW.tzinfo is UTC


def test_shadow_namespaces_expire_after_their_ttl() -> None:
    from shakedown.adapters.shadow import expired
    from shakedown.planning.infrarollout.shadow import namespace_manifest

    manifest = namespace_manifest("prod-shadow-change-1", rollout_identity(), NOW)
    assert manifest["metadata"]["labels"]["shakedown.dev/shadow"] == "true"
    assert manifest["metadata"]["annotations"]["shakedown.dev/owner"] == "prod/change/uid-1"
    assert not expired(manifest, NOW - timedelta(seconds=1))
    assert expired(manifest, NOW)


def test_job_checks_default_to_the_candidate_image() -> None:
    from shakedown.planning.infrarollout.smoke import candidate_image

    change = ResolvedChange(images=(("web", "reg/web@sha256:" + "b" * 64), ("side", "reg/side:2")))
    assert candidate_image(change, "side", {}) == "reg/side:2"
    assert candidate_image(change, None, {}) == "reg/web@sha256:" + "b" * 64
    shadow = {DEPLOY: deployment()}
    assert candidate_image(ResolvedChange(), "web", shadow) == "reg/web:1"


def test_metadata_the_api_server_left_out_or_nulled_reads_as_empty() -> None:
    pod = {
        "metadata": {"name": "web-1", "labels": None, "creationTimestamp": "2026-01-01T00:00:00Z"}
    }
    meta = Meta.of(pod)
    assert (meta.name, dict(meta.labels), meta.generation, meta.deleting) == ("web-1", {}, 0, False)
    assert meta.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert Meta.of({"metadata": None}).name == ""
    assert Meta.of({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}).deleting
