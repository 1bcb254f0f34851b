"""What the dogfooding scene needs to build the operator inside the cluster.

The scene's ContainerImageRefresh builds the operator image from the
project's own Git repository in a build pod. Pods here cannot reach PyPI, so
that build downloads nothing: it starts FROM the *dependencies image* built
here on the host (images/operator/Containerfile on the debootstrap base with
``PACKAGE=false``: the venv with the dependencies' wheels ``make image`` uses
plus pytest, pytest-timeout, setuptools and wheel, and not shakedown, so a
change to the sources does not rebuild it; ``KEEP_BUILD_TOOLS=true`` keeps pip
and setuptools in the venv), and
installs only shakedown from the cloned sources with the venv's own setuptools
(``OFFLINE=true``, ``BUILD_ISOLATION=false``). ``TESTS=true`` copies tests/
into the candidate, so the refresh's test scenario runs the unit tier inside
the very image it would promote. The same Containerfile, only build arguments.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from shakedown.adapters.registry import ImageRef
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.images import build_image
from shakedown.localcluster.layout import Layout
from shakedown.localcluster.operator_image import (
    BASE_NAME,
    NAME,
    PACKAGES,
    build_debian_base,
    containerfile,
    download_dependencies,
    pins,
    repo_root,
    wheels_context,
)

DEPS_NAME = "operator-deps"


def tool_requirements() -> list[str]:
    """Installed besides the runtime dependencies: pytest as the dev venv has it,
    setuptools as pyproject's build-system asks."""
    return [
        f"pytest=={metadata.version('pytest')}",
        f"pytest-timeout=={metadata.version('pytest-timeout')}",
        "setuptools>=77",
        "wheel",
    ]


def build_dependencies_image(
    layout: Layout | None = None, *, say: Callable[[str], None] = print
) -> ImageRef:
    """``shakedown/operator-deps``: the operator's venv, plus test and build tools.

    Cached by its inputs like every image here: unchanged pins rebuild nothing.
    """
    layout = layout or Layout.default()
    base = build_debian_base(layout, BASE_NAME, PACKAGES, say)
    runtime = download_dependencies(layout, say)
    tools = download_dependencies(layout, say, requirements=tool_requirements())
    return build_image(
        layout,
        DEPS_NAME,
        containerfile=containerfile(NAME).read_text(encoding="utf-8"),
        context=wheels_context(runtime, tools),
        build_args={
            "BASE": base.by_digest,
            "OFFLINE": "true",
            # With versions: the venv already holds an older setuptools (ensurepip's).
            "EXTRA_PACKAGES": " ".join([*pins(), *tool_requirements()]),
            "PACKAGE": "false",
            "KEEP_BUILD_TOOLS": "true",
        },
        say=say,
    )


def in_cluster_build_args(dependencies: ImageRef) -> dict[str, str]:
    """``spec.source.buildArgs`` of the refresh that builds the operator from Git."""
    return {
        "BASE": dependencies.by_digest,
        "OFFLINE": "true",
        "BUILD_ISOLATION": "false",
        "TESTS": "true",
    }


def tracked_files(repo: Path | None = None) -> dict[str, bytes]:
    """Path -> content of every file git tracks, as the work tree holds it now.

    What the scene commits to its Git server: the project as it is being
    edited, uncommitted changes included (a file deleted but not yet committed
    is left out).
    """
    repo = repo or repo_root()
    proc = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        raise ClusterError(f"git ls-files failed in {repo}: {proc.stderr.decode()[-300:]}")
    out: dict[str, bytes] = {}
    for name in proc.stdout.decode().split("\0"):
        path = repo / name
        if name and path.is_file():
            out[name] = path.read_bytes()
    return out
