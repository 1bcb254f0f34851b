"""Reading the Flux pins and the nested modules a controller's go.mod replaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.flux import parse_pins, replaced_local_requires

REPO = Path(__file__).resolve().parents[2]


def test_the_repositorys_pins_name_both_controllers() -> None:
    pins = parse_pins((REPO / "hack" / "flux" / "modules.txt").read_text())
    assert {m.name for m in pins.modules} == {"source-controller", "kustomize-controller"}
    assert all(m.version.startswith("v1.") for m in pins.modules)


def test_toolchain_and_comments() -> None:
    pins = parse_pins("# c\ntoolchain go1.27.3  # why\ngithub.com/x/a-controller v1.2.3\n")
    assert pins.toolchain == "go1.27.3"
    assert pins.module("a-controller").path == "github.com/x/a-controller"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("github.com/x/a v1\n", "not like v1.2.3"),
        ("toolchain 1.27\ngithub.com/x/a v1.0.0\n", "not like go1.27.3"),
        ("github.com/x/a v1.0.0 extra\n", "modules.txt:1: expected two words"),
        ("# nothing\n", "pins no module"),
    ],
)
def test_bad_pins_name_the_line(text: str, needle: str) -> None:
    with pytest.raises(ClusterError, match=needle):
        parse_pins(text)


def test_replaced_local_requires() -> None:
    go_mod = """module github.com/fluxcd/source-controller

replace github.com/fluxcd/source-controller/api => ./api

replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1

replace (
	sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
	example.com/tool v0.1.0 => ./tools/tool
)

require (
	github.com/fluxcd/source-controller/api v1.9.6
	example.com/tool v0.1.0
)
"""
    assert replaced_local_requires(go_mod) == {
        "github.com/fluxcd/source-controller/api@v1.9.6": "./api",
        "example.com/tool@v0.1.0": "./tools/tool",
    }


def test_replaced_but_not_required_is_an_error() -> None:
    with pytest.raises(ClusterError, match="does not require"):
        replaced_local_requires("replace example.com/a => ./a\n")
