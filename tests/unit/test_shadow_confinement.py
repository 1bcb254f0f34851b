"""A shadow is never less confined than its production namespace.

Pod Security labels come from production with a ``baseline`` floor for modes
it leaves unset; production's ResourceQuotas and LimitRanges are copied, the
defaults apply where it has none; and a shadow workload whose pods admission
refuses fails the readiness check at once with the admission message.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shakedown.api.infrarollout import RolloutPhase
from shakedown.planning.infrarollout.confinement import (
    DEFAULT_QUOTA,
    DEFAULT_QUOTA_NAME,
    pod_security_labels,
    quota_objects,
)
from shakedown.planning.infrarollout.objects import Obj, ObjKey
from shakedown.planning.infrarollout.plan import Observed
from shakedown.planning.infrarollout.progress import replica_failure
from shakedown.planning.infrarollout.smoke import judge_ready
from tests.unit.infrarollout_world import NOW, NS, World, deployment, pod

PSA = "pod-security.kubernetes.io/"
REFUSED = (
    'pods "web-5d8f-x2" is forbidden: violates PodSecurity "restricted:latest": '
    'privileged (container "web" must not set securityContext.privileged=true)'
)


@pytest.mark.parametrize(
    ("production", "expected"),
    [
        ({}, {"enforce": "baseline", "audit": "baseline", "warn": "baseline"}),
        (
            {PSA + "enforce": "restricted", PSA + "enforce-version": "v1.34"},
            {
                "enforce": "restricted",
                "enforce-version": "v1.34",
                "audit": "restricted",
                "warn": "restricted",
            },
        ),
        (  # an explicit choice of production is kept, weaker or not
            {PSA + "enforce": "privileged", PSA + "warn": "restricted"},
            {"enforce": "privileged", "audit": "baseline", "warn": "restricted"},
        ),
        (  # a value production could not have meant: the floor
            {PSA + "enforce": "lax", PSA + "enforce-version": "latest", "team": "a"},
            {"enforce": "baseline", "audit": "baseline", "warn": "baseline"},
        ),
    ],
)
def test_pod_security_labels(production: dict[str, str], expected: dict[str, str]) -> None:
    assert pod_security_labels(production) == {PSA + k: v for k, v in expected.items()}


def quota(name: str, hard: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": NS, "uid": "u", "resourceVersion": "7"},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": {"pods": "3"}},
    }


def test_production_quotas_are_copied_and_limits_defaulted() -> None:
    objects = quota_objects([quota("compute", {"pods": "5"})], {"shakedown.dev/revision": "1"})
    copy = objects[ObjKey("ResourceQuota", "compute")]
    assert copy["spec"] == {"hard": {"pods": "5"}}
    assert "status" not in copy and "namespace" not in copy["metadata"]
    assert copy["metadata"]["labels"] == {"shakedown.dev/revision": "1"}
    assert ObjKey("ResourceQuota", DEFAULT_QUOTA_NAME) not in objects
    limits = objects[ObjKey("LimitRange", DEFAULT_QUOTA_NAME)]["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["default"]["memory"] == "1Gi"


def test_without_production_quotas_the_defaults_apply() -> None:
    objects = quota_objects([], {})
    assert set(objects) == {
        ObjKey("ResourceQuota", DEFAULT_QUOTA_NAME),
        ObjKey("LimitRange", DEFAULT_QUOTA_NAME),
    }
    assert objects[ObjKey("ResourceQuota", DEFAULT_QUOTA_NAME)]["spec"]["hard"] == DEFAULT_QUOTA


class ConfinedWorld(World):
    """The planner's world with a production namespace that enforces ``restricted``."""

    def observe(self) -> Observed:
        return dataclasses.replace(
            super().observe(),
            namespace_labels={PSA + "enforce": "restricted", "team": "web"},
            quotas=[quota("compute", {"pods": "5"})],
        )


def test_the_shadow_namespace_and_copies_carry_productions_rules() -> None:
    world = ConfinedWorld.default({})
    world.run(until={RolloutPhase.SMOKE_TESTING.value})
    shadow = world.status.shadow_namespace or ""
    labels = world.namespaces[shadow]["metadata"]["labels"]
    assert labels[PSA + "enforce"] == "restricted"
    assert labels[PSA + "warn"] == "restricted"
    assert "team" not in labels and labels["shakedown.dev/shadow"] == "true"
    applied = world.applies(shadow)
    assert applied[:2] == ["ResourceQuota/compute", f"LimitRange/{DEFAULT_QUOTA_NAME}"]
    assert world.get(ObjKey("ResourceQuota", "compute"), shadow) is not None


def failing(message: str) -> Obj:
    obj = deployment()
    obj["metadata"]["generation"] = 1
    obj["status"] = {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"},
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": message,
            },
        ],
    }
    return obj


def test_pods_refused_at_admission_fail_the_ready_check_with_the_message() -> None:
    judgement = judge_ready(
        {ObjKey("Deployment", "web"): failing(REFUSED)}, [], ready_for=5, max_restarts=0, now=NOW
    )
    assert judgement.failed
    assert judgement.message == f"Deployment/web: FailedCreate: {REFUSED}"


def test_a_quota_not_yet_counted_is_waited_for() -> None:
    message = 'pods "web-1" is forbidden: status unknown for quota: shakedown-default'
    assert replica_failure(failing(message)) is None
    judgement = judge_ready(
        {ObjKey("Deployment", "web"): failing(message)},
        [],
        ready_for=5,
        max_restarts=0,
        now=NOW + timedelta(seconds=1),
    )
    assert not judgement.failed and not judgement.passed


@pytest.mark.parametrize(
    ("message", "fails"),
    [
        # The kubelet had not yet seen the shadow's ConfigMap, copied a moment before: it retries.
        ("failed to sync configmap cache: timed out waiting for the condition", False),
        ("failed to sync secret cache: timed out waiting for the condition", False),
        # A key or object that does not exist does not come by itself.
        ("couldn't find key MESSAGE in ConfigMap ns/web-config", True),
    ],
)
def test_the_ready_check_waits_out_only_a_config_cache_not_yet_synced(
    message: str, fails: bool
) -> None:
    shadow_pod = pod(
        "web-1", ready=False, labels={"app": "web"}, waiting="CreateContainerConfigError"
    )
    shadow_pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = message
    judgement = judge_ready(
        {ObjKey("Deployment", "web"): deployment(replicas=1)},
        [shadow_pod],
        ready_for=5,
        max_restarts=0,
        now=NOW,
    )
    assert judgement.failed is fails, judgement.message
    if fails:
        assert message in judgement.message
