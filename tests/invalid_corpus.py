"""A corpus of invalid objects, one thing wrong in each, and the field each must be refused by.

Issue 10: every spec field is hostile input. Each ``Case`` starts from a valid
object of its kind and changes one thing. ``stage`` says who refuses it:
``schema`` cases are refused by the API server (the CRD's schema or CEL rules,
generated from the pydantic models); ``operator`` cases pass the schema and
must be stalled by the operator with a condition that names the field.

The cluster test (tests/cluster/test_invalid_corpus.py) checks both on the
local cluster and deletes every created object afterwards; the unit test
(tests/unit/test_invalid_corpus.py) checks that the pydantic models refuse the
schema cases too, since they are the single source of truth.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Literal

GROUP_VERSION = "shakedown.dev/v1alpha1"
DELETE = object()
"""A value that removes the key instead of setting it."""

DIGEST = "sha256:" + "a" * 64


def valid_cir(name: str = "corpus") -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ContainerImageRefresh",
        "metadata": {"name": name},
        "spec": {
            "image": "registry.example/ci/unit-tests",
            "source": {
                "git": {"url": "https://git.example/ci.git", "revision": "main"},
                "containerfile": "Containerfile",
            },
            "tests": [{"name": "unit", "command": ["/bin/true"], "timeout": "5m"}],
            "suspend": True,  # the corpus is about refusals; nothing should build
            "notify": {"webhook": {"url": "https://hooks.example/x"}},
        },
    }


def valid_iro(name: str = "corpus") -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "InfraRollout",
        "metadata": {"name": name},
        "spec": {
            "targets": [
                {"kind": "Deployment", "name": "absent"},
                {"kind": "ConfigMap", "name": "absent-config"},
                {"kind": "Service", "name": "absent"},
            ],
            "change": {"images": [{"container": "app", "image": f"registry.example/app@{DIGEST}"}]},
            "smokeTests": {
                "http": [{"name": "home", "service": "absent", "port": 80}],
                "metrics": [
                    {
                        "name": "errors",
                        "prometheus": {"address": "http://prom:9090", "query": "up"},
                        "successCondition": "result < 1",
                    }
                ],
            },
            "bake": "1m",
        },
    }


def valid_mtpl(name: str = "corpus") -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "MetricTemplate",
        "metadata": {"name": name},
        "spec": {
            "prometheus": {"address": "http://prom:9090", "query": "up"},
            "successCondition": "result == 1",
        },
    }


Kind = Literal["cir", "iro", "mtpl"]
BASES = {"cir": valid_cir, "iro": valid_iro, "mtpl": valid_mtpl}
PLURALS = {"cir": "containerimagerefreshes", "iro": "infrarollouts", "mtpl": "metrictemplates"}


@dataclass(frozen=True)
class Case:
    id: str
    kind: Kind
    path: str
    """Where the one wrong thing goes: ``spec.tests[0].name``; ``metadata.name`` too."""
    value: Any
    field: str
    """What the refusal must name (the API server's field path, or the operator's)."""
    stage: Literal["schema", "operator"] = "schema"

    def manifest(self, name: str) -> dict[str, Any]:
        obj = BASES[self.kind](name)
        put(obj, self.path, self.value if self.value is DELETE else copy.deepcopy(self.value))
        return obj


def put(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set (or, with DELETE, remove) ``path`` in ``obj``; missing dicts are created."""
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node: Any = obj
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


def _cases() -> list[Case]:
    c: list[Case] = []

    def add(kind: Kind, path: str, value: Any, field: str | None = None, **kw: Any) -> None:
        ident = f"{len(c) + 1:03d}-{kind}:{path}={_short(value)}"
        c.append(Case(ident, kind, path, value, field or path, **kw))

    # --------------------------------------------------------------- names
    working: tuple[Kind, ...] = ("cir", "iro")
    for kind in working:
        add(kind, "metadata.name", "a" * 64, "metadata.name")
        add(kind, "metadata.name", "has.dot", "metadata.name")
        add(kind, "metadata.name", "ends-with-dash-", "metadata.name")

    # --------------------------------------------------------------- durations, every field
    durations: list[tuple[Kind, str]] = [
        ("iro", "spec.bake"),
        ("iro", "spec.timeout"),
        ("iro", "spec.shadow.ttl"),
        ("iro", "spec.smokeTests.readyFor"),
        ("iro", "spec.smokeTests.readyTimeout"),
        ("iro", "spec.rollback.notReadyFor"),
        ("cir", "spec.buildTimeout"),
        ("cir", "spec.tests[0].timeout"),
        ("cir", "spec.triggers.pollInterval"),
    ]
    for kind, path in durations:
        add(kind, path, "1000000000h")
        add(kind, path, "721h")
        add(kind, path, "5 minutes")
    add("iro", "spec.bake", "1d")
    add("iro", "spec.bake", "-5m")
    add("iro", "spec.bake", "1.5h")
    add("iro", "spec.smokeTests.http[0].timeout", "99999999999s")
    add("iro", "spec.smokeTests.metrics[0].interval", "721h")
    add("cir", "spec.triggers.pollInterval", "5s")

    # --------------------------------------------------------------- build inputs
    for value in ("..", "../..", "a/../../b", "/etc", "a//b", "../" * 10):
        add("cir", "spec.source.git.contextDir", value)
    for value in ("../Containerfile", "/auth/config.json", "a/../../x", ""):
        add("cir", "spec.source.containerfile", value)
    for value in ("-c", "--upload-pack=x", "a b", "$(id)", "a..b", "x" * 257, ""):
        add("cir", "spec.source.git.revision", value)
    for value in (
        "https://robot:pw@git.example/ci.git",
        "file:///auth",
        "ssh://git@git.example/ci.git",
        "git@git.example:ci.git",
        "ftp://git.example/ci.git",
        "https://git.example/" + "x" * 2100,
        "https://git example/ci.git",
    ):
        add("cir", "spec.source.git.url", value)
    add("cir", "spec.source.configMap", {"name": "ctx"}, "spec.source")
    add("cir", "spec.source.git", DELETE, "spec.source")
    add("cir", "spec.source.buildArgs", {f"A{i}": "x" for i in range(65)})
    add("cir", "spec.source.buildArgs", {"A": "x" * 4097}, "spec.source.buildArgs.A")
    add("cir", "spec.buildResources.limits", {"gpu": "1"}, "spec.buildResources.limits.gpu")
    add("cir", "spec.buildResources.limits.memory", "lots")
    add("cir", "spec.buildResources.requests.cpu", "-1")

    # --------------------------------------------------------------- images and tags
    for value in ("UPPER/case", "registry.example/app:1", "registry.example/app@" + DIGEST, ""):
        add("cir", "spec.image", value)
    for value in ("-lead", "a" * 129, "has space", "tag:colon"):
        add("cir", "spec.tag", value)
    add("iro", "spec.change.images[0].image", "not an image")
    add("iro", "spec.change.images[0].image", "registry.example/app@sha256:short")
    add("iro", "spec.change.images[0].container", "Bad_Name")
    add("iro", "spec.change.images", [{"container": "app", "image": "r.example/a:1"}] * 33)

    # --------------------------------------------------------------- tests / scenarios
    add("cir", "spec.tests", [])
    add("cir", "spec.tests", [{"name": f"t{i}"} for i in range(65)])
    add("cir", "spec.tests[0].name", "Unit_Tests")
    add("cir", "spec.tests[0].name", "a" * 64)
    add("cir", "spec.tests[0].command", ["x"] * 65)
    add("cir", "spec.tests[0].args", ["x" * 4097], "spec.tests[0].args[0]")
    add("cir", "spec.tests[0].env", [{"name": "1BAD"}], "spec.tests[0].env[0].name")
    add(
        "cir",
        "spec.tests[0].env",
        [{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "spec.tests[0].env[0].valueFrom",
    )
    add(
        "cir",
        "spec.tests[0].env",
        [{"name": "A", "valueFrom": {}}],
        "spec.tests[0].env[0].valueFrom",
    )
    add("cir", "spec.historyLimit", 0)
    add("cir", "spec.historyLimit", 51)
    add("cir", "spec.schedule", "every day")
    add("cir", "spec.schedule", "* * * * * * *")
    add("cir", "spec.timeZone", "x" * 65)
    add("cir", "spec.pushSecretRef", {"name": "Bad_Secret"}, "spec.pushSecretRef.name")
    add("cir", "spec.notify.webhook.url", "ftp://hooks.example/x")
    add("cir", "spec.notify.webhook.url", "https://user:pw@hooks.example/x")
    add("cir", "spec.notify.webhook.url", "https://hooks.example/" + "x" * 2100)
    add("cir", "spec.notify.events", ["Exploded"], "spec.notify.events[0]")
    add("cir", "spec.notify.events", ["Failed"] * 4)
    add("cir", "spec.suspend", "yes")
    add("cir", "spec.unknownField", True, "spec.unknownField")

    # --------------------------------------------------------------- rollout shape
    add("iro", "spec.targets", [])
    add("iro", "spec.targets", [{"kind": "Deployment", "name": f"d{i}"} for i in range(33)])
    add("iro", "spec.targets[0].kind", "Pod")
    add("iro", "spec.targets[0].kind", "ClusterRole")
    add("iro", "spec.targets[0].name", "Bad_Name")
    add("iro", "spec.targets[0].name", "a" * 254)
    dup = {"kind": "Deployment", "name": "absent"}
    add("iro", "spec.targets", [dup, dup], "spec.targets[1]")
    add("iro", "spec.targets", [{"kind": "ConfigMap", "name": "only-config"}])
    add("iro", "spec.change", {})
    add(
        "iro",
        "spec.change.patches",
        [{"target": {"kind": "ConfigMap", "name": "elsewhere"}, "patch": {"data": {}}}],
        "spec.change.patches",
    )
    add(
        "iro",
        "spec.change.patches",
        [{"target": {"kind": "ConfigMap", "name": "absent-config"}, "type": "xml", "patch": {}}],
        "spec.change.patches[0].type",
    )
    add("iro", "spec.shadow.replicas", 0)
    add("iro", "spec.shadow.replicas", 11)
    add("iro", "spec.shadow.ttl", "30s")
    add("iro", "spec.shadow.copySecrets", ["Bad_Secret"], "spec.shadow.copySecrets[0]")
    add("iro", "spec.smokeTests.readyTimeout", "2h")
    add("iro", "spec.smokeTests.http[0].port", 0)
    add("iro", "spec.smokeTests.http[0].port", 70000)
    add("iro", "spec.smokeTests.http[0].path", "no-slash")
    add("iro", "spec.smokeTests.http[0].scheme", "HTTPS")
    add("iro", "spec.smokeTests.http[0].expectStatus", 99)
    add("iro", "spec.smokeTests.http[0].attempts", 101)
    add("iro", "spec.smokeTests.http[0].name", "Home Page")
    add("iro", "spec.smokeTests.metrics[0].count", 1001)
    add("iro", "spec.smokeTests.metrics[0].failureLimit", 5)
    add("iro", "spec.smokeTests.metrics[0].successCondition", "__import__('os')")
    add("iro", "spec.smokeTests.metrics[0].successCondition", "result <")
    add(
        "iro",
        "spec.smokeTests.metrics[0].templateRef",
        {"name": "t"},
        "spec.smokeTests.metrics[0].prometheus",
    )
    add(
        "iro",
        "spec.smokeTests.metrics[0].prometheus.address",
        "http://user:pw@prom:9090",
        "spec.smokeTests.metrics[0].prometheus.address",
    )
    add("iro", "spec.smokeTests.metrics[0].prometheus.query", "")
    add(
        "iro",
        "spec.smokeTests.metrics[0].prometheus.headers",
        [{"name": "X-A", "value": "1", "secretKey": "k"}],
        "spec.smokeTests.metrics[0].prometheus.headers[0].value",
    )
    add("iro", "spec.strategy.type", "Linear")
    add("iro", "spec.strategy", {"type": "Canary"}, "spec.strategy.type")
    add(
        "iro",
        "spec.strategy",
        {"type": "Canary", "canary": {"steps": [{"weight": 50}, {"weight": 20}]}},
        "spec.strategy.canary.steps",
    )
    add(
        "iro",
        "spec.strategy",
        {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "1m"}]}},
        "spec.strategy.canary.steps[0]",
    )
    add(
        "iro",
        "spec.strategy",
        {"type": "Canary", "canary": {"steps": [{"weight": 101}]}},
        "spec.strategy.canary.steps[0].weight",
    )
    add(
        "iro",
        "spec.strategy",
        {"type": "Replace", "blueGreen": {"service": "absent"}},
        "spec.strategy.blueGreen",
    )
    add("iro", "spec.rollback.maxRestarts", -1)
    add("iro", "spec.rollback.maxRestarts", 1001)
    add("iro", "spec.imageFrom", {"containerImageRefresh": "app"}, "spec.imageFrom.container")
    add("iro", "spec.promote", "no")

    # --------------------------------------------------------------- MetricTemplate
    add("mtpl", "spec.successCondition", "result ** 2")
    add("mtpl", "spec.prometheus.address", "prom:9090")
    add(
        "mtpl",
        "spec.prometheus.headers",
        [{"name": "Bad Header", "value": "x"}],
        "spec.prometheus.headers[0].name",
    )
    add("mtpl", "spec.prometheus", DELETE, "spec.prometheus")

    # --------------------------------------------------------------- only the operator can tell
    op: dict[str, Any] = {"stage": "operator"}
    add("cir", "spec.schedule", "0 0 30 2 *", **op)
    add("cir", "spec.schedule", "0 0 31 4 *", **op)
    add("cir", "spec.timeZone", "Mars/Olympus_Mons", **op)
    add("cir", "spec.source.buildArgs", {"BAD-NAME": "1"}, "spec.source.buildArgs.BAD-NAME", **op)
    add(
        "cir",
        "spec.tests[0].env",
        [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
        "spec.tests[0].env[1].name",
        **op,
    )
    add(
        "iro",
        "spec.change.patches",
        [{"target": {"kind": "ConfigMap", "name": "absent-config"}, "type": "json", "patch": {}}],
        "spec.change.patches[0].patch",
        **op,
    )
    add(
        "iro",
        "spec.smokeTests.http[0].service",
        "not-a-target",
        "spec.smokeTests.http[0].service",
        **op,
    )
    add(
        "iro",
        "spec.smokeTests.metrics[0]",
        {"name": "m", "templateRef": {"name": "no-such-template"}},
        "spec.smokeTests.metrics[0].templateRef",
        **op,
    )
    add(
        "iro",
        "spec.strategy",
        {"type": "BlueGreen", "blueGreen": {"service": "not-a-target"}},
        "spec.strategy.blueGreen.service",
        **op,
    )
    add("iro", "spec.smokeTests.readyFor", "2h", "spec.shadow.ttl", **op)

    return c


def _short(value: Any) -> str:
    text = "<delete>" if value is DELETE else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


CASES: tuple[Case, ...] = tuple(_cases())
SCHEMA_CASES = tuple(case for case in CASES if case.stage == "schema")
OPERATOR_CASES = tuple(case for case in CASES if case.stage == "operator")
