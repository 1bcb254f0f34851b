"""The release workflow and the Containerfiles it builds, checked where they cannot run.

.github/workflows/release.yaml only runs on GitHub. Here it must parse, have
the keys GitHub requires, name only files the repository has, and pass
actionlint (built once from the pinned module in hack/actionlint, cached like
helm). The Containerfiles take their base as a build argument, and the builder
image installs exactly the packages the operator's builder adapter expects.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shakedown.adapters.builder import BUILDER_PACKAGES

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yaml"
MODULE = REPO / "hack" / "actionlint"
CACHE = Path.home() / ".cache" / "shakedown" / "bin" / "actionlint"


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the key `on` as the boolean True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def run_scripts(flow: dict[Any, Any]) -> list[tuple[dict[str, Any], str]]:
    """(job, script) of every `run:` step, with ${{ matrix.image }} expanded per value."""
    out = []
    for job in flow["jobs"].values():
        images = job.get("strategy", {}).get("matrix", {}).get("image", [None])
        for step in job["steps"]:
            if "run" not in step:
                continue
            for image in images:
                script = step["run"]
                if image is not None:
                    script = script.replace("${{ matrix.image }}", image)
                out.append((job, script))
    return out


def test_the_workflow_has_what_github_requires() -> None:
    flow = workflow()
    assert flow["name"] == "release"
    assert flow["on"] == {"push": {"tags": ["v*"]}}
    assert flow["permissions"]["packages"] == "write"
    assert set(flow["jobs"]) == {"images", "chart"}
    for name, job in flow["jobs"].items():
        assert job["runs-on"].startswith("ubuntu-"), name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
    assert flow["jobs"]["chart"]["needs"] == "images"


def test_the_workflow_builds_both_images_for_two_architectures() -> None:
    flow = workflow()
    assert flow["jobs"]["images"]["strategy"]["matrix"]["image"] == ["operator", "builder"]
    assert flow["env"]["PLATFORMS"] == "linux/amd64,linux/arm64"
    scripts = "\n".join(script for _, script in run_scripts(flow))
    assert 'buildah bud --platform "$PLATFORMS" --build-arg "BASE=$BASE"' in scripts
    assert "buildah manifest push --all" in scripts
    assert "helm package charts/shakedown" in scripts and "helm push" in scripts


def test_every_path_the_workflow_names_exists() -> None:
    named = set()
    for _, script in run_scripts(workflow()):
        named |= set(re.findall(r"\b(?:images|charts)/[\w./-]*\w", script))
    assert "images/operator/Containerfile" in named and "images/builder/Containerfile" in named
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert not missing, f"release.yaml names files the repository lacks: {missing}"


def build_arg_base(text: str) -> str:
    """The default of ``ARG BASE``, which must come before (and feed) the first FROM."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    arg = re.fullmatch(r"ARG BASE=(\S+)", lines[0])
    assert arg, f"the first instruction is not ARG BASE=...: {lines[0]!r}"
    assert lines[1].startswith("FROM ${BASE}"), lines[1]
    return arg.group(1)


@pytest.mark.parametrize("image", ["operator", "builder"])
def test_the_base_image_is_a_build_argument(image: str) -> None:
    text = (REPO / "images" / image / "Containerfile").read_text(encoding="utf-8")
    assert build_arg_base(text) == "docker.io/library/debian:bookworm-slim"


def test_the_builder_image_installs_the_builder_packages() -> None:
    text = (REPO / "images" / "builder" / "Containerfile").read_text(encoding="utf-8")
    found = re.search(r'packages="([^"]+)"', text)
    assert found, "images/builder/Containerfile lists no packages"
    assert tuple(found.group(1).split()) == BUILDER_PACKAGES


def test_the_operator_image_runs_the_operator_unprivileged() -> None:
    text = (REPO / "images" / "operator" / "Containerfile").read_text(encoding="utf-8")
    assert "\nUSER 65532\n" in text
    assert '\nENTRYPOINT ["/opt/shakedown/bin/shakedown"]\n' in text
    assert "COPY . /src/" in text
    # The source context: what .containerignore lets in is what the wheel is built from.
    ignore = (REPO / ".containerignore").read_text(encoding="utf-8").split()
    assert {"*", "!pyproject.toml", "!README.md", "!operator/"} <= set(ignore)
    assert (REPO / ".dockerignore").resolve() == (REPO / ".containerignore").resolve()


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The actionlint binary, built once per hack/actionlint inputs."""
    stamp = hashlib.sha256(
        b"".join((MODULE / name).read_bytes() for name in ("go.mod", "go.sum", "tools.go"))
    ).hexdigest()[:16]
    out = CACHE / stamp / "actionlint"
    if out.exists():
        return out
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("no Go toolchain: needed once to build hack/actionlint", pytrace=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            command = [go, "build", "-mod=readonly", "-trimpath", "-ldflags=-s -w"]
            result = subprocess.run(
                [*command, "-o", str(tmp), "github.com/rhysd/actionlint/cmd/actionlint"],
                cwd=MODULE,
                env={**os.environ, "CGO_ENABLED": "0"},
                capture_output=True,
                text=True,
                timeout=900,
            )
            if result.returncode != 0:
                pytest.fail(f"building actionlint failed:\n{result.stderr[-3000:]}", pytrace=False)
            tmp.rename(out)
    return out


def test_actionlint_finds_nothing(actionlint: Path) -> None:
    result = subprocess.run(
        [str(actionlint), "-no-color", str(WORKFLOW.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "release.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:", 1))
    result = subprocess.run(
        [str(actionlint), "-no-color", str(broken)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "run-on" in result.stdout, result.stdout
