"""The generated CRDs against a real API server.

They install and become Established; every example in examples/ really applies
(and is deleted again); and broken objects — one broken field each, both kinds —
are refused by the API server with a message that names the field.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
DIGEST = "sha256:" + "0123456789abcdef" * 4
DELETE = object()


def custom_object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The object ``broken`` of ``kind`` with ``spec`` (valid until a test breaks a field)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": "broken"},
        "spec": spec,
    }


def cir(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "image": "registry.example/ci/unit-tests",
        "source": {"git": {"url": "https://git.example/ci/images.git"}},
        "schedule": "0 22 * * 0",
        "tests": [{"name": "amd64-clang", "command": ["/usr/local/bin/run-tests"]}],
        "notify": {"webhook": {"url": "https://chat.example/hook"}},
    }
    return custom_object("ContainerImageRefresh", {**base, **spec})


def iro(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "targets": [
            {"kind": "Deployment", "name": "tasks"},
            {"kind": "ConfigMap", "name": "tasks-config"},
            {"kind": "Service", "name": "tasks"},
        ],
        "change": {
            "images": [{"container": "tasks", "image": f"registry.example/ci/tasks@{DIGEST}"}],
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "tasks-config"},
                    "type": "merge",
                    "patch": {"data": {"WORKERS": "8"}},
                }
            ],
        },
        "smokeTests": {
            "http": [{"name": "health", "service": "tasks", "port": 8080}],
            "metrics": [
                {
                    "name": "errors",
                    "prometheus": {"address": "http://prometheus:9090", "query": "up"},
                    "successCondition": "result < 0.05",
                    "count": 5,
                    "failureLimit": 1,
                }
            ],
        },
        "strategy": {
            "type": "Canary",
            "canary": {"steps": [{"weight": 25}, {"pause": "1m"}, {"weight": 100}]},
        },
    }
    return custom_object("InfraRollout", {**base, **spec})


def mtpl(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "prometheus": {
            "address": "https://prometheus.monitoring:9090",
            "query": 'sum(rate(errors{namespace="{{namespace}}"}[1m]))',
            "secretRef": {"name": "prometheus-credentials"},
            "headers": [{"name": "X-Scope-OrgID", "value": "team-a"}],
        },
        "successCondition": "result[0] < 0.05",
    }
    return custom_object("MetricTemplate", {**base, **spec})


def with_value(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of obj with the field at ``spec.a[0].b`` set to value (or deleted)."""
    obj = copy.deepcopy(obj)
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    node: Any = obj
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return obj


# (object, path to break, broken value, field path the error must name)
INVALID: list[tuple[str, dict[str, Any], str, Any, str]] = [
    # ContainerImageRefresh
    ("cir-image-with-tag", cir(), "spec.image", "registry.example/ci/x:latest", "spec.image"),
    ("cir-image-missing", cir(), "spec.image", DELETE, "spec.image"),
    ("cir-tag", cir(), "spec.tag", "bad tag", "spec.tag"),
    (
        "cir-two-sources",
        cir(),
        "spec.source.configMap",
        {"name": "ctx"},
        "spec.source",
    ),
    ("cir-no-source", cir(), "spec.source.git", DELETE, "spec.source"),
    ("cir-git-url", cir(), "spec.source.git.url", "ftp://git.example/x", "spec.source.git.url"),
    (
        "cir-git-ssh",
        cir(),
        "spec.source.git.url",
        "ssh://git@git.example/ci/images.git",
        "spec.source.git.url",
    ),
    (
        "cir-git-scp",
        cir(),
        "spec.source.git.url",
        "git@git.example:ci/images.git",
        "spec.source.git.url",
    ),
    ("cir-schedule", cir(), "spec.schedule", "every sunday", "spec.schedule"),
    ("cir-history-zero", cir(), "spec.historyLimit", 0, "spec.historyLimit"),
    ("cir-history-huge", cir(), "spec.historyLimit", 1000, "spec.historyLimit"),
    ("cir-no-tests", cir(), "spec.tests", [], "spec.tests"),
    (
        "cir-duplicate-tests",
        cir(),
        "spec.tests",
        [{"name": "a"}, {"name": "a"}],
        "spec.tests[1]",
    ),
    ("cir-test-name", cir(), "spec.tests[0].name", "Bad_Name", "spec.tests[0].name"),
    ("cir-test-timeout", cir(), "spec.tests[0].timeout", "30 minutes", "spec.tests[0].timeout"),
    (
        "cir-env-both",
        cir(),
        "spec.tests[0].env",
        [{"name": "X", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "spec.tests[0].env[0].valueFrom",
    ),
    (
        "cir-poll-too-fast",
        cir(),
        "spec.triggers",
        {"pollInterval": "1s"},
        "spec.triggers.pollInterval",
    ),
    ("cir-promote-type", cir(), "spec.promote", "yes", "spec.promote"),
    ("cir-webhook-url", cir(), "spec.notify.webhook.url", "chat", "spec.notify.webhook.url"),
    ("cir-notify-event", cir(), "spec.notify.events", ["Sometimes"], "spec.notify.events[0]"),
    # InfraRollout
    ("iro-no-targets", iro(), "spec.targets", [], "spec.targets"),
    ("iro-target-kind", iro(), "spec.targets[0].kind", "CronJob", "spec.targets[0].kind"),
    (
        "iro-duplicate-target",
        iro(),
        "spec.targets[2]",
        {"kind": "Deployment", "name": "tasks"},
        "spec.targets[2]",
    ),
    (
        "iro-no-workload",
        iro(),
        "spec.targets",
        [{"kind": "ConfigMap", "name": "tasks-config"}],
        "spec.targets",
    ),
    ("iro-no-change", iro(), "spec.change", {}, "spec.change"),
    (
        "iro-image-ref",
        iro(),
        "spec.change.images[0].image",
        "Registry/UPPER",
        "spec.change.images[0].image",
    ),
    (
        "iro-patch-type",
        iro(),
        "spec.change.patches[0].type",
        "xml",
        "spec.change.patches[0].type",
    ),
    (
        "iro-patch-unlisted-target",
        iro(),
        "spec.change.patches[0].target.name",
        "other-config",
        "spec.change.patches",
    ),
    (
        "iro-image-from-twice",
        iro(),
        "spec.imageFrom",
        {"containerImageRefresh": "tasks-image", "container": "tasks"},
        "spec.imageFrom.container",
    ),
    ("iro-shadow-replicas", iro(), "spec.shadow", {"replicas": 0}, "spec.shadow.replicas"),
    ("iro-shadow-ttl", iro(), "spec.shadow", {"ttl": "30s"}, "spec.shadow.ttl"),
    ("iro-http-port", iro(), "spec.smokeTests.http[0].port", 70000, "spec.smokeTests.http[0].port"),
    (
        "iro-success-condition",
        iro(),
        "spec.smokeTests.metrics[0].successCondition",
        "__import__('os').system('id')",
        "spec.smokeTests.metrics[0].successCondition",
    ),
    (
        "iro-success-condition-arithmetic",
        iro(),
        "spec.smokeTests.metrics[0].successCondition",
        "result + 1 < 2",
        "spec.smokeTests.metrics[0].successCondition",
    ),
    (
        "iro-http-https",
        iro(),
        "spec.smokeTests.http[0].scheme",
        "HTTPS",
        "spec.smokeTests.http[0].scheme",
    ),
    (
        "iro-metric-two-sources",
        iro(),
        "spec.smokeTests.metrics[0].templateRef",
        {"name": "errors"},
        "spec.smokeTests.metrics[0].prometheus",
    ),
    (
        "iro-metric-no-condition",
        iro(),
        "spec.smokeTests.metrics[0].successCondition",
        DELETE,
        "spec.smokeTests.metrics[0].successCondition",
    ),
    (
        "iro-prometheus-userinfo",
        iro(),
        "spec.smokeTests.metrics[0].prometheus.address",
        "http://admin:hunter2@prometheus:9090",
        "spec.smokeTests.metrics[0].prometheus.address",
    ),
    (
        "iro-prometheus-authorization-header",
        iro(),
        "spec.smokeTests.metrics[0].prometheus.headers",
        [{"name": "Authorization", "value": "Bearer x"}],
        "spec.smokeTests.metrics[0].prometheus.headers[0].name",
    ),
    (
        "iro-failure-limit",
        iro(),
        "spec.smokeTests.metrics[0].failureLimit",
        5,
        "spec.smokeTests.metrics[0].failureLimit",
    ),
    ("iro-strategy-type", iro(), "spec.strategy.type", "Linear", "spec.strategy.type"),
    (
        "iro-canary-without-canary-type",
        iro(),
        "spec.strategy.type",
        "Replace",
        "spec.strategy.canary",
    ),
    ("iro-canary-missing", iro(), "spec.strategy.canary", DELETE, "spec.strategy.type"),
    (
        "iro-step-both",
        iro(),
        "spec.strategy.canary.steps[0]",
        {"weight": 25, "pause": "1m"},
        "spec.strategy.canary.steps[0]",
    ),
    (
        "iro-step-weight",
        iro(),
        "spec.strategy.canary.steps[0].weight",
        120,
        "spec.strategy.canary.steps[0].weight",
    ),
    (
        "iro-weights-decrease",
        iro(),
        "spec.strategy.canary.steps[2].weight",
        10,
        "spec.strategy.canary.steps",
    ),
    ("iro-bake", iro(), "spec.bake", "five minutes", "spec.bake"),
    ("iro-max-restarts", iro(), "spec.rollback", {"maxRestarts": -1}, "spec.rollback.maxRestarts"),
    # MetricTemplate
    (
        "mtpl-condition",
        mtpl(),
        "spec.successCondition",
        "result.__class__",
        "spec.successCondition",
    ),
    ("mtpl-no-query", mtpl(), "spec.prometheus.query", DELETE, "spec.prometheus.query"),
    (
        "mtpl-header-secret-without-secret",
        mtpl(),
        "spec.prometheus",
        {
            "address": "http://prometheus:9090",
            "query": "up",
            "headers": [{"name": "X-Token", "secretKey": "token"}],
        },
        "spec.prometheus.headers",
    ),
]


def plural(kind: str) -> str:
    return {
        "ContainerImageRefresh": "containerimagerefreshes",
        "InfraRollout": "infrarollouts",
        "MetricTemplate": "metrictemplates",
    }[kind]


def test_crds_are_established_with_names(k8s_api: ApiClient, crds: list[str]) -> None:
    ext = kubeclient.apiextensions(k8s_api)
    assert sorted(crds) == [
        f"containerimagerefreshes.{GROUP}",
        f"infrarollouts.{GROUP}",
        f"metrictemplates.{GROUP}",
    ]
    for name in crds:
        crd = ext.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in crd.status.conditions}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert crd.status.accepted_names.categories == ["shakedown"]
    cir_names = ext.read_custom_resource_definition(f"containerimagerefreshes.{GROUP}")
    assert cir_names.status.accepted_names.short_names == ["cir"]
    iro_names = ext.read_custom_resource_definition(f"infrarollouts.{GROUP}")
    assert iro_names.status.accepted_names.short_names == ["iro"]
    template_names = ext.read_custom_resource_definition(f"metrictemplates.{GROUP}")
    assert template_names.status.accepted_names.short_names == ["mtpl"]


def example_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in EXAMPLES:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc:
                docs.append((f"{path.name}#{index}", doc))
    return docs


def test_there_are_examples() -> None:
    kinds = {doc["kind"] for _, doc in example_docs()}
    assert {"ContainerImageRefresh", "InfraRollout", "MetricTemplate"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_applies(k8s_api: ApiClient, crds: list[str], namespace: str, path: Path) -> None:
    dyn = kubeclient.dynamic(k8s_api)
    created = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not doc:
            continue
        resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        obj = resource.create(body=doc, namespace=namespace)
        created.append((resource, obj.metadata.name))
        stored = resource.get(name=obj.metadata.name, namespace=namespace).to_dict()
        if doc["kind"] in ("ContainerImageRefresh", "InfraRollout", "MetricTemplate"):
            # What the user wrote is stored as written (nothing pruned) ...
            assert_subset(doc["spec"], stored["spec"], "spec")
    assert created
    for resource, name in created:
        resource.delete(name=name, namespace=namespace)
    for resource, name in created:
        # An operator of this session may have put its finalizer on a rollout: it
        # goes once the finalizer ran, which is what a user sees too.
        deadline = time.monotonic() + 60
        while True:
            try:
                resource.get(name=name, namespace=namespace)
            except ApiException as gone:
                assert gone.status == 404
                break
            assert time.monotonic() < deadline, f"{name} still exists 60 s after its deletion"
            time.sleep(0.5)


def assert_subset(expected: Any, actual: Any, path: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} was pruned by the API server"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{path}[{index}]")
    else:
        assert expected == actual, path


def test_defaults_are_applied_by_the_api_server(
    k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    api = kubeclient.custom(k8s_api)
    obj = cir()
    obj["metadata"]["name"] = "defaults"
    stored = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural(obj["kind"]), obj
    )
    spec = stored["spec"]
    assert spec["tag"] == "latest"
    assert spec["promote"] is True
    assert spec["historyLimit"] == 5
    assert spec["timeZone"] == "UTC"
    assert spec["triggers"] == {"baseImage": True, "source": True, "pollInterval": "5m"}
    assert spec["tests"][0]["timeout"] == "30m"
    obj = iro()
    obj["metadata"]["name"] = "defaults"
    stored = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural(obj["kind"]), obj
    )
    assert stored["spec"]["shadow"] == {"ttl": "1h", "replicas": 1, "isolate": True}
    assert stored["spec"]["rollback"]["automatic"] is True
    assert stored["spec"]["bake"] == "5m"


@pytest.mark.parametrize(
    ("case", "obj", "path", "value", "field"),
    INVALID,
    ids=[case for case, *_ in INVALID],
)
def test_invalid_object_is_refused_naming_the_field(
    k8s_api: ApiClient,
    crds: list[str],
    namespace: str,
    case: str,
    obj: dict[str, Any],
    path: str,
    value: Any,
    field: str,
) -> None:
    api = kubeclient.custom(k8s_api)
    # The unbroken object is accepted, so the refusal is caused by this one field.
    valid = copy.deepcopy(obj)
    valid["metadata"]["name"] = f"valid-{case}"[:63]
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural(obj["kind"]), valid)

    broken = with_value(obj, path, value)
    with pytest.raises(ApiException) as refused:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural(obj["kind"]), broken)
    assert refused.value.status == 422, refused.value.body
    body = str(refused.value.body)
    message = json.loads(body)["message"]
    assert field in message, f"{case}: the error does not name {field}: {message}"
    # The first cause is the broken field (others may follow from it, e.g. an empty
    # target list also leaves a patch target unlisted).
    causes = json.loads(body).get("details", {}).get("causes", [])
    fields = [c.get("field", "") for c in causes if c.get("field") != "<nil>"]
    assert fields and fields[0].startswith(field), causes


ARGO_STYLE_CONDITIONS = [
    "result[0] < 0.05",
    "result < 0.05",
    "max(result) <= 0.1 && len(result) == 3",
    "avg(result) < 1 or min(result) == 0",
    "sum(result) >= 10",
]


def test_the_condition_language_is_what_the_api_server_accepts(
    k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    """Conditions the evaluator runs are stored; metric checks may name a template alone."""
    api = kubeclient.custom(k8s_api)
    for index, condition in enumerate(ARGO_STYLE_CONDITIONS):
        obj = with_value(iro(), "spec.smokeTests.metrics[0].successCondition", condition)
        obj["metadata"]["name"] = f"condition-{index}"
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, "infrarollouts", obj)
        template = mtpl(successCondition=condition)
        template["metadata"]["name"] = f"condition-{index}"
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, "metrictemplates", template)
    by_template = with_value(
        iro(), "spec.smokeTests.metrics[0]", {"name": "errors", "templateRef": {"name": "x"}}
    )
    by_template["metadata"]["name"] = "by-template"
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "infrarollouts", by_template)


def test_printer_columns(k8s_api: ApiClient, crds: list[str], namespace: str) -> None:
    api = kubeclient.custom(k8s_api)
    obj = cir()
    obj["metadata"]["name"] = "columns"
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural(obj["kind"]), obj)
    for kind, expected in (
        ("ContainerImageRefresh", ["Name", "Tag", "Promoted", "Last Run", "Trigger", "Age"]),
        ("InfraRollout", ["Name", "Revision", "Phase", "Step", "Shadow", "Age", "Reason"]),
    ):
        response: Any = k8s_api.call_api(
            "GET",
            f"{k8s_api.configuration.host}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/"
            f"{plural(kind)}",
            header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        )
        response.read()
        table = json.loads(response.data)
        names = [c["name"] for c in table["columnDefinitions"]]
        for column in expected:
            assert column in names, f"{kind}: {names}"
    assert len(INVALID) >= 20
