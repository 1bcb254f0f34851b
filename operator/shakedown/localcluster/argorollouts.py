"""Build Argo Rollouts' controller from its pinned Go module, once per version.

``bench/peers.py`` runs the same bad canary under Argo Rollouts and shakedown;
the controller runs out of cluster, so nothing is pulled from an image
registry. The module's ``go.mod`` carries ``replace`` directives, which Go
honours only in the main module, so the build copies the module out of the
read-only module cache into ``~/.cache/shakedown/argo-rollouts/<version>/src``
and builds there. That copy also holds the CRDs (``manifests/crds``). A stamp
beside the binary names the inputs; a warm call does no Go work at all.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.gobuild import build_lock, go_command, run_go
from shakedown.localcluster.layout import Below, Layout

MODULE = "github.com/argoproj/argo-rollouts"
VERSION = "v1.9.3"
#: The module's dependencies need a newer Go than the one installed here.
TOOLCHAIN = "go1.27.3"
PACKAGE = "./cmd/rollouts-controller"


@dataclass(frozen=True)
class ArgoBuild:
    """Where one built controller and its sources are."""

    root: Path

    src = Below("root", "src")
    binary = Below("root", "bin", "rollouts-controller")
    stamp = Below("root", "bin", ".stamp")

    def crds(self) -> list[Path]:
        """Every CRD the module ships (the controller watches experiments and cluster
        analysis templates too)."""
        files = sorted((self.src / "manifests" / "crds").glob("*-crd.yaml"))
        if not files:
            raise ClusterError(f"no CRDs in {self.src / 'manifests' / 'crds'}; build first")
        return files


def build_dir(layout: Layout, version: str = VERSION) -> ArgoBuild:
    return ArgoBuild(layout.cache / "argo-rollouts" / version)


def stamp_text(version: str = VERSION, toolchain: str = TOOLCHAIN) -> str:
    """What the stamp records: a binary built from other inputs is rebuilt."""
    return f"{MODULE}@{version} {PACKAGE} GOTOOLCHAIN={toolchain} -mod=mod CGO_ENABLED=0 -s -w"


def is_built(build: ArgoBuild, version: str = VERSION) -> bool:
    return (
        build.binary.exists()
        and build.stamp.exists()
        and build.stamp.read_text().strip() == stamp_text(version)
    )


def build_argo_rollouts(layout: Layout, *, say: Callable[[str], None] = print) -> ArgoBuild:
    """The controller of the pinned version, built now unless it is in the cache."""
    build = build_dir(layout)
    if is_built(build):
        say(f"building rollouts-controller {VERSION} (cached)")
        return build
    with build_lock(layout):
        if is_built(build):  # another process built it while this one waited
            say(f"building rollouts-controller {VERSION} (cached)")
            return build
        _build(layout, build, say=say)
    return build


def _go_env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": TOOLCHAIN, "GOFLAGS": "-mod=mod"}


def _download(layout: Layout, build: ArgoBuild, env: dict[str, str]) -> Path:
    """``go mod download`` the pinned module; the read-only directory it landed in."""
    build.root.mkdir(parents=True, exist_ok=True)
    log = layout.cache / "logs" / "go-download-argo-rollouts.log"
    spec = f"{MODULE}@{VERSION}"
    run_go([go_command(), "mod", "download", "-json", spec], cwd=build.root, log=log, env=env)
    text = log.read_text()
    try:
        info = json.loads(text[text.index("{") :])
    except ValueError:
        raise ClusterError(f"go mod download {spec} printed no module record; see {log}") from None
    if info.get("Error") or not info.get("Dir"):
        raise ClusterError(f"go mod download {spec}: {info.get('Error', 'no directory')}")
    return Path(info["Dir"])


def _copy_writable(src: Path, dst: Path) -> None:
    """Copy without the module cache's read-only modes (Go writes go.sum there)."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for root, dirs, _files in os.walk(dst):
        for name in dirs:
            (Path(root) / name).chmod(0o755)
    dst.chmod(0o755)


def _build(layout: Layout, build: ArgoBuild, *, say: Callable[[str], None]) -> None:
    say(f"building rollouts-controller {VERSION} with go build (first time takes many minutes)")
    started = time.monotonic()
    env = _go_env()
    build.stamp.unlink(missing_ok=True)
    _copy_writable(_download(layout, build, env), build.src)
    build.binary.parent.mkdir(parents=True, exist_ok=True)
    partial = build.binary.with_name(".rollouts-controller.partial")
    run_go(
        [go_command(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), PACKAGE],
        cwd=build.src,
        log=layout.cache / "logs" / "go-build-argo-rollouts.log",
        env=env,
    )
    partial.replace(build.binary)
    build.stamp.write_text(stamp_text() + "\n")
    say(f"built rollouts-controller {VERSION} in {time.monotonic() - started:.1f}s")
