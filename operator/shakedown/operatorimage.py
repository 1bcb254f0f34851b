"""The operator's own container image, built on this machine from Debian packages.

Nothing is pulled from a public registry: the root filesystem is Debian
(debootstrap, via ``shakedown.localcluster.images``), Python comes from
Debian, the dependencies are the versions the development environment tests
(installed by pip on the host, so the host's index settings apply), and the
package is this checkout's source. The image runs as a numeric non-root user
(65532), so the kubelet can enforce ``runAsNonRoot`` and OpenShift can
substitute its own UID.

``python -m shakedown.operatorimage`` (``make image``) builds it into the local
registry and prints its reference; the build is cached by its inputs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPOSITORY = "operator"
PACKAGES = ("python3", "ca-certificates")
USER = "65532"
CACHE = Path.home() / ".cache" / "shakedown" / "operator-image"
#: Runtime dependencies (pyproject.toml), installed with the versions of the dev venv.
REQUIREMENTS = (
    "kopf",
    "kubernetes",
    "pykube-ng",
    "prometheus-client",
    "pydantic",
    "PyYAML",
    "croniter",
)


def source_files(repo: Path = REPO) -> dict[str, bytes]:
    """Image path -> bytes of the package's source (no bytecode)."""
    files = {}
    package = repo / "operator" / "shakedown"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
            files[f"/opt/shakedown/src/{path.relative_to(repo / 'operator')}"] = path.read_bytes()
    return files


def pins() -> list[str]:
    """``name==version`` for each requirement as installed here (the tested versions)."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]


def dependency_files(say: Callable[[str], None]) -> dict[str, bytes]:
    """Image path -> bytes of the dependencies, installed on the host by pip (cached).

    pip runs here, not in the image build, so it uses this machine's package index
    settings and certificates; the wheels are for the same Python minor version
    as Debian's python3.
    """
    key = hashlib.sha256("\n".join(pins()).encode()).hexdigest()[:16]
    target = CACHE / f"deps-{key}"
    if not (target / ".complete").exists():
        say("installing the operator's dependencies for the image (pip, cached)")
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--only-binary=:all:",
                "--target",
                str(target),
                *pins(),
            ],
            check=True,
        )
        (target / ".complete").write_text("ok\n")
    files = {}
    for path in sorted(target.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name != ".complete":
            if "bin" in path.relative_to(target).parts[:1]:
                continue  # console scripts with the host's interpreter path
            files[f"/opt/shakedown/lib/{path.relative_to(target)}"] = path.read_bytes()
    return files


def build(say: Callable[[str], None] = print) -> str:
    """Build (or reuse) the image in the local registry; its by-digest reference."""
    from shakedown.localcluster.images import build_debian_image
    from shakedown.localcluster.layout import Layout

    files: dict[str, bytes | Path | tuple[bytes, int]] = {
        **dependency_files(say),
        **source_files(),
    }
    ref = build_debian_image(
        Layout.default(),
        REPOSITORY,
        packages=PACKAGES,
        extra_files=files,
        env={
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": "/opt/shakedown/src:/opt/shakedown/lib",
        },
        entrypoint=["python3", "-m", "shakedown"],
        cmd=["run", "--all-namespaces"],
        user=USER,
        say=say,
    )
    return ref.by_digest


def main() -> int:
    print(build(say=lambda message: print(message, file=sys.stderr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
