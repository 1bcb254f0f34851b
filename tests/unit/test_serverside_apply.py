"""What shakedown sends with server-side apply, and which fields it takes over first."""

from __future__ import annotations

from typing import Any

from shakedown.planning.infrarollout.serverside import (
    FIELD_MANAGER,
    apply_configuration,
    merge_fields,
    taken_over,
)


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "elsewhere",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"deployment.kubernetes.io/revision": "3", "team": "web"},
            "ownerReferences": [{"kind": "Thing", "name": "x", "uid": "o-1"}],
        },
        "spec": {"replicas": 2},
        "status": {"replicas": 2},
    }


def test_apply_configuration_drops_what_the_server_owns() -> None:
    body = apply_configuration(_deployment(), "prod")
    assert body["metadata"] == {
        "name": "web",
        "namespace": "prod",
        "annotations": {"team": "web"},
        "ownerReferences": [{"kind": "Thing", "name": "x", "uid": "o-1"}],
    }
    assert "status" not in body
    assert body["spec"] == {"replicas": 2}


def test_apply_configuration_leaves_the_input_alone() -> None:
    original = _deployment()
    apply_configuration(original, "prod")
    assert original == _deployment()


def test_apply_configuration_without_annotations_left_has_none() -> None:
    obj = _deployment()
    obj["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    assert "annotations" not in apply_configuration(obj, "prod")["metadata"]


def test_merge_fields_is_a_union_of_the_tries() -> None:
    left: dict[str, Any] = {"f:spec": {"f:replicas": {}, "f:template": {"f:metadata": {}}}}
    right = {"f:spec": {"f:template": {"f:spec": {}}}, "f:metadata": {"f:labels": {}}}
    assert merge_fields([left, right]) == {
        "f:spec": {"f:replicas": {}, "f:template": {"f:metadata": {}, "f:spec": {}}},
        "f:metadata": {"f:labels": {}},
    }


def _entry(manager: str, operation: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **extra,
    }


def test_clients_fields_move_to_shakedown_controllers_and_status_stay() -> None:
    kubectl = _entry("kubectl-client-side-apply", "Update", {"f:spec": {"f:replicas": {}}})
    script = _entry("OpenAPI-Generator", "Update", {"f:metadata": {"f:labels": {}}})
    controller = _entry("kube-controller-manager", "Update", {"f:metadata": {"f:annotations": {}}})
    status = _entry("kube-controller-manager", "Update", {"f:status": {}}, subresource="status")
    managed = taken_over([kubectl, controller, script, status])
    assert managed is not None
    owner, *kept = managed
    assert owner["manager"] == FIELD_MANAGER
    assert owner["operation"] == "Apply"
    assert owner["fieldsV1"] == {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {}}}
    assert kept == [controller, status]


def test_shakedowns_own_apply_is_merged_not_duplicated() -> None:
    ours = _entry(FIELD_MANAGER, "Apply", {"f:spec": {"f:template": {}}})
    kubectl = _entry("kubectl", "Update", {"f:spec": {"f:replicas": {}}})
    managed = taken_over([ours, kubectl])
    assert managed is not None
    assert [e["manager"] for e in managed] == [FIELD_MANAGER]
    assert managed[0]["fieldsV1"] == {"f:spec": {"f:template": {}, "f:replicas": {}}}


def test_nothing_to_take_over_needs_no_write() -> None:
    ours = _entry(FIELD_MANAGER, "Apply", {"f:spec": {}})
    controller = _entry("kube-controller-manager", "Update", {"f:metadata": {}})
    assert taken_over([ours, controller]) is None
    assert taken_over([]) is None
