"""The CRDs in crds/ are generated from the models, structural, and up to date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shakedown.api.crdgen import HEADER, KINDS, build_crd, kind_spec, render_all

CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"
CHART_CRDS_DIR = CRDS_DIR.parent / "charts" / "shakedown" / "crds"


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def root_schema(kind: str) -> dict[str, Any]:
    crd = build_crd(kind_spec(kind))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("directory", [CRDS_DIR, CHART_CRDS_DIR], ids=["crds", "chart"])
def test_crds_directory_is_up_to_date(directory: Path) -> None:
    expected = render_all()
    where = directory.relative_to(CRDS_DIR.parent)
    present = {p.name for p in directory.glob("*.yaml")}
    assert present == set(expected), f"{where}/ holds {sorted(present)}; run `make crds`"
    for name, text in expected.items():
        on_disk = (directory / name).read_text(encoding="utf-8")
        assert on_disk == text, f"{where}/{name} is stale: run `make crds` and commit the result"


@pytest.mark.parametrize("name", sorted(render_all()))
def test_files_carry_the_generated_header(name: str) -> None:
    text = render_all()[name]
    assert text.startswith(HEADER)
    assert "do not edit" in HEADER
    (crd,) = list(yaml.safe_load_all(text))
    assert crd["kind"] == "CustomResourceDefinition"


@pytest.mark.parametrize("kind", [k.names.kind for k in KINDS])
def test_schema_is_structural(kind: str) -> None:
    for path, node in walk(root_schema(kind)):
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "not", "title", "$defs"):
            assert forbidden not in node, f"{kind}{path} has {forbidden}"
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "type" in node, f"{kind}{path} has no type"
        if node.get("type") == "object" and "properties" in node:
            assert "additionalProperties" not in node, f"{kind}{path}"


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Paths of fields without a description, or whose description shows reST ``quoting``.

    Every property needs one, and so does every array item or map value that is
    an object of its own; a list or map of plain strings is described by its field.
    ``.metadata`` is the exception: the API server refuses anything on it but its
    type, and kubectl explain describes it as ObjectMeta.
    """
    bad = []
    for path, node in walk(schema):
        if path == ".metadata":
            continue
        description = node.get("description", "")
        is_field = not path.endswith(("[]", "{}"))
        if (is_field or "properties" in node) and not description.strip():
            bad.append(f"{path or '.'}: no description")
        if "``" in description:
            bad.append(f"{path}: reST quoting in {description[:60]!r}")
    return bad


@pytest.mark.parametrize("kind", [k.names.kind for k in KINDS])
def test_every_field_is_described_for_kubectl_explain(kind: str) -> None:
    assert undescribed(root_schema(kind)) == []


def test_the_description_walk_finds_every_gap() -> None:
    schema = {
        "description": "root",
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {
                "description": "list",
                "type": "array",
                "items": {"type": "object", "properties": {"c": {"description": "``x``"}}},
            },
            "d": {"description": "strings", "type": "array", "items": {"type": "string"}},
        },
    }
    assert undescribed(schema) == [
        ".a: no description",
        ".b[]: no description",
        ".b[].c: reST quoting in '``x``'",
    ]


_SHORT_NAMES = {"ContainerImageRefresh": "cir", "InfraRollout": "iro", "MetricTemplate": "mtpl"}


@pytest.mark.parametrize("kind", [k.names.kind for k in KINDS])
def test_names_subresources_and_columns(kind: str) -> None:
    spec = kind_spec(kind)
    crd = build_crd(spec)
    names = crd["spec"]["names"]
    assert names["categories"] == ["shakedown"]
    assert names["shortNames"] == [_SHORT_NAMES[kind]]
    assert crd["spec"]["scope"] == "Namespaced"
    version = crd["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    expected = {
        "ContainerImageRefresh": ["Tag", "Promoted", "Last Run", "Trigger", "Age", "Message"],
        "InfraRollout": ["Revision", "Phase", "Step", "Shadow", "Age", "Reason"],
        "MetricTemplate": ["Address", "Condition", "Age"],
    }[kind]
    for column in expected:
        assert column in columns
    if kind == "MetricTemplate":  # configuration only: no status to write
        assert "subresources" not in version
        assert "status" not in version["schema"]["openAPIV3Schema"]["properties"]
        return
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert "conditions" in status["properties"]
    assert "x-kubernetes-preserve-unknown-fields" not in status
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].split("[")[0].lstrip(".").split(".")
        node = version["schema"]["openAPIV3Schema"]
        for part in path:
            if part == "metadata":
                break
            node = node["properties"][part]
            if node.get("type") == "array":
                node = node["items"]


def test_cir_schema_details() -> None:
    spec = root_schema("cir")["properties"]["spec"]
    assert set(spec["required"]) == {"image", "source", "tests"}
    props = spec["properties"]
    assert props["tag"]["default"] == "latest"
    assert props["historyLimit"]["minimum"] == 1
    assert props["historyLimit"]["maximum"] == 50
    assert props["tests"]["x-kubernetes-list-type"] == "map"
    assert props["tests"]["x-kubernetes-list-map-keys"] == ["name"]
    assert "pattern" in props["schedule"]
    # Sub-objects default to their fields' defaults (the API server checks CEL rules
    # against the default as written), required ones get no default at all.
    assert props["triggers"]["default"] == {"baseImage": True, "source": True, "pollInterval": "5m"}
    assert "default" not in props["source"]
    assert props["source"]["properties"]["containerfile"]["default"] == "Containerfile"
    assert props["triggers"]["properties"]["pollInterval"]["default"] == "5m"
    rules = [r["rule"] for r in props["source"]["x-kubernetes-validations"]]
    assert "has(self.git) != has(self.configMap)" in rules
    status = root_schema("cir")["properties"]["status"]["properties"]
    assert status["promotedDigest"]["pattern"].startswith("^sha256:")
    assert "promotedDigestShort" in status
    assert "promotedDigestShort" not in root_schema("cir")["properties"]["status"].get(
        "required", []
    ), "computed fields are written by the operator, never required"
    assert "default" not in status["history"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    cond = status["conditions"]["items"]
    assert set(cond["required"]) >= {"type", "status", "reason", "lastTransitionTime"}
    assert cond["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_iro_schema_details() -> None:
    spec = root_schema("iro")["properties"]["spec"]
    props = spec["properties"]
    assert spec["required"] == ["targets"]
    kinds = props["targets"]["items"]["properties"]["kind"]["enum"]
    assert kinds == ["Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service"]
    assert props["targets"]["x-kubernetes-list-map-keys"] == ["kind", "name"]
    patch = props["change"]["properties"]["patches"]["items"]["properties"]["patch"]
    assert patch == {
        "description": patch["description"],
        "x-kubernetes-preserve-unknown-fields": True,
    }
    strategy = props["strategy"]
    assert strategy["properties"]["type"]["enum"] == ["Replace", "Canary", "BlueGreen"]
    assert len(strategy["x-kubernetes-validations"]) == 3
    step = strategy["properties"]["canary"]["properties"]["steps"]["items"]
    assert step["properties"]["weight"]["maximum"] == 100
    assert step["x-kubernetes-validations"][0]["rule"] == "has(self.weight) != has(self.pause)"
    phases = root_schema("iro")["properties"]["status"]["properties"]["phase"]["enum"]
    assert phases == [
        "Pending",
        "Snapshotting",
        "Shadowing",
        "SmokeTesting",
        "Shifting",
        "Baking",
        "Succeeded",
        "RollingBack",
        "RolledBack",
        "Failed",
        "Aborted",
        "Validated",
    ]


def test_every_cel_rule_has_a_message() -> None:
    for kind in KINDS:
        for path, node in walk(root_schema(kind.names.kind)):
            for entry in node.get("x-kubernetes-validations", []):
                assert entry.get("message"), f"{kind.names.kind}{path}: {entry}"
