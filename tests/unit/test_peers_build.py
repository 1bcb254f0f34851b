"""The Argo Rollouts build for bench/peers.py: a second run uses the cached controller and
runs no Go at all; a binary built from other inputs is built again."""

from __future__ import annotations

from pathlib import Path

import pytest

from shakedown.localcluster import argorollouts
from shakedown.localcluster.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(repo=tmp_path / "repo", state=tmp_path / "state", cache=tmp_path / "cache")


def built(layout: Layout, stamp: str) -> argorollouts.ArgoBuild:
    build = argorollouts.build_dir(layout)
    build.binary.parent.mkdir(parents=True)
    build.binary.write_text("#!/bin/sh\n")
    build.stamp.write_text(stamp + "\n")
    return build


def test_a_cached_controller_is_used_without_running_go(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = built(layout, argorollouts.stamp_text())

    def no_go(*args: object, **kwargs: object) -> None:
        raise AssertionError("go ran for a cached build")

    monkeypatch.setattr(argorollouts, "run_go", no_go)
    said: list[str] = []
    assert argorollouts.build_argo_rollouts(layout, say=said.append) == build
    assert said == [f"building rollouts-controller {argorollouts.VERSION} (cached)"]
    assert build.binary.is_relative_to(layout.cache / "argo-rollouts")


def test_a_controller_built_from_other_inputs_is_not_current(layout: Layout) -> None:
    build = built(layout, argorollouts.stamp_text(toolchain="go1.26.8"))
    assert not argorollouts.is_built(build)
    build.stamp.write_text(argorollouts.stamp_text() + "\n")
    assert argorollouts.is_built(build)
    build.binary.unlink()  # an interrupted build leaves no binary: built again
    assert not argorollouts.is_built(build)


def test_the_stamp_names_the_module_version_and_toolchain() -> None:
    stamp = argorollouts.stamp_text()
    assert "github.com/argoproj/argo-rollouts@v1.9.3" in stamp
    assert "GOTOOLCHAIN=go1.27.3" in stamp
