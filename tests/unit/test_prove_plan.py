"""Naming and rewriting the prove-only copies ``shakedown prove`` creates (no cluster)."""

from __future__ import annotations

import re

import pytest

from shakedown.presentation.errors import UserError
from shakedown.presentation.prove_plan import (
    ANNOTATION_PROVE_ID,
    ANNOTATION_PROVES,
    LABEL_PROVE_ID,
    MAX_CONTEXT_BYTES,
    Manifest,
    check_unique,
    copy_name,
    id_label,
    missing_targets,
    pack_context,
    parse_documents,
    prove_copy,
    selector,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

CIR = """
apiVersion: shakedown.dev/v1alpha1
kind: ContainerImageRefresh
metadata:
  name: unit-tests
  namespace: ci
  annotations: {shakedown.dev/run-requested: "7", team: infra}
spec:
  image: registry.example/ci/unit-tests
  schedule: "0 22 * * 0"
  suspend: true
  source:
    git: {url: https://git.example/ci/images.git, revision: main, contextDir: unit}
  triggers: {pollInterval: 2m}
  notify: {webhook: {url: "https://chat.example/hook"}}
  tests: [{name: smoke, command: [/bin/true]}]
status: {promotedDigest: "sha256:00"}
"""
IRO = """
apiVersion: shakedown.dev/v1alpha1
kind: InfraRollout
metadata: {name: web}
spec:
  targets: [{kind: Deployment, name: web}, {kind: ConfigMap, name: web-config}]
  change: {images: [{container: web, image: "r.example/web:2"}]}
"""
OTHER = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"


def manifests(text: str) -> list[Manifest]:
    return parse_documents(text, "pr/x.yaml")[0]


@pytest.mark.parametrize(
    "prove_id", ["42", "PR #1234", "3f1d2c8e9b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e", "x" * 200]
)
@pytest.mark.parametrize("original", ["web", "a-rather-long-infrarollout-name-of-fifty-characters"])
def test_copy_names_are_dns_labels_and_unique_per_id(prove_id: str, original: str) -> None:
    name = copy_name(original, prove_id)
    assert DNS_LABEL.match(name) and len(name) <= 63, name
    assert name.startswith(original[:20])
    assert copy_name(original, prove_id + "1") != name
    assert DNS_LABEL.match(id_label(prove_id)) and len(id_label(prove_id)) <= 63


def test_short_names_stay_readable() -> None:
    assert copy_name("web", "PR #42") == "web-pr-42"
    assert selector("PR #42") == "shakedown.dev/prove=true,shakedown.dev/prove-id=pr-42"


def test_an_id_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(UserError, match="--id"):
        copy_name("web", "///")


def test_documents_keep_only_shakedown_kinds_and_count_the_rest() -> None:
    found, others = parse_documents(f"{CIR}---\n{OTHER}---\n{IRO}\n---\n", "pr/all.yaml")
    assert [(m.ref, m.source) for m in found] == [
        ("cir/unit-tests", "pr/all.yaml#1"),
        ("iro/web", "pr/all.yaml#3"),
    ]
    assert others == 1


def test_lists_are_unpacked() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- " + IRO.strip().replace("\n", "\n  ")
    assert [m.ref for m in manifests(text)] == ["iro/web"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1,\n", r"pr/x.yaml:\d+: not valid YAML"),
        ("- 1\n", "pr/x.yaml#1: expected a Kubernetes object"),
        ("apiVersion: v1\nkind: InfraRollout\nmetadata: {name: x}\n", "apiVersion"),
        ("apiVersion: shakedown.dev/v1alpha1\nkind: InfraRollout\nspec: {}\n", "metadata.name"),
    ],
)
def test_bad_documents_name_where(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_documents(text, "pr/x.yaml")


def test_the_same_object_twice_is_refused() -> None:
    found = manifests(f"{IRO}---\n{IRO}")
    with pytest.raises(UserError, match="iro/web is defined twice"):
        check_unique(found, {m.source: "prod" for m in found})


def test_a_refresh_copy_validates_once_from_the_prs_revision() -> None:
    (cir,) = manifests(CIR)
    out = prove_copy(cir, prove_id="42", namespace="ci", revision="abc123")
    assert out["metadata"]["name"] == "unit-tests-42"
    assert out["metadata"]["namespace"] == "ci"
    assert out["metadata"]["labels"][LABEL_PROVE_ID] == "42"
    # The steering annotation of production does not travel; the others do.
    assert out["metadata"]["annotations"] == {
        "team": "infra",
        ANNOTATION_PROVES: "unit-tests",
        ANNOTATION_PROVE_ID: "42",
    }
    spec = out["spec"]
    assert spec["promote"] is False
    assert "schedule" not in spec and "suspend" not in spec and "status" not in out
    assert "notify" not in spec
    assert spec["triggers"] == {"pollInterval": "2m", "baseImage": False, "source": False}
    assert spec["source"]["git"]["revision"] == "abc123"
    assert cir.obj["spec"]["source"]["git"]["revision"] == "main", "input changed"


def test_a_local_context_replaces_the_git_source() -> None:
    (cir,) = manifests(CIR)
    out = prove_copy(cir, prove_id="42", namespace="ci", context_config_map="ctx")
    assert out["spec"]["source"] == {"configMap": {"name": "ctx"}}


def test_a_rollout_copy_never_promotes() -> None:
    (iro,) = manifests(IRO)
    out = prove_copy(iro, prove_id="sha-1", namespace="prod")
    assert out["spec"]["promote"] is False
    assert out["spec"]["targets"] == iro.obj["spec"]["targets"]
    assert out["metadata"]["name"] == "web-sha-1"


def test_missing_targets_are_named_unless_the_change_creates_them() -> None:
    (iro,) = manifests(IRO)
    assert missing_targets(iro, [("Deployment", "web")]) == [
        "spec.targets[1]: ConfigMap/web-config"
    ]
    created = manifests(
        IRO.replace(
            "change: {",
            "change: {manifests: [{kind: ConfigMap, metadata: {name: web-config}}], ",
        )
    )[0]
    assert missing_targets(created, [("Deployment", "web")]) == []


def test_a_context_packs_text_and_binary_files() -> None:
    cm = pack_context(
        {"Containerfile": b"FROM x\n", "blob.bin": b"\xff\x00"},
        name="c",
        namespace="ci",
        prove_id="7",
        where="ctx/",
    )
    assert cm["data"] == {"Containerfile": "FROM x\n"}
    assert cm["binaryData"] == {"blob.bin": "/wA="}
    assert cm["metadata"]["labels"][LABEL_PROVE_ID] == "7"


def test_a_context_over_the_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(UserError, match=f"over the limit of {MAX_CONTEXT_BYTES} bytes"):
        pack_context(
            {"Containerfile": b"FROM x\n", "big": b"a" * MAX_CONTEXT_BYTES},
            name="c",
            namespace="ci",
            prove_id="7",
            where="ctx/",
        )
    # Binary files count base64-encoded: 3/4 of the limit in raw bytes is already too much.
    with pytest.raises(UserError, match="binary files count base64-encoded"):
        pack_context(
            {"big": b"\xff" * (MAX_CONTEXT_BYTES * 3 // 4 + 10)},
            name="c",
            namespace="ci",
            prove_id="7",
            where="ctx/",
        )


def test_a_context_file_name_must_be_a_configmap_key() -> None:
    with pytest.raises(UserError, match="'my file' is not a valid file name"):
        pack_context({"my file": b"x"}, name="c", namespace="ci", prove_id="7", where="ctx/")
