"""The operator's container image, built the way users install it: a wheel in a venv.

The recipe is images/operator/Containerfile, the one a user's CI builds; here
its BASE is Debian (``python3``, ``python3-venv``, ``ca-certificates`` from
debootstrap, via ``build_debian_image``), and it makes a virtual environment in
``/opt/shakedown`` holding this checkout's package as a wheel and its
dependencies. Nothing is fetched during the image build: the wheel is built on
the host (``pip wheel``, keyed by a hash of the sources, so an unchanged tree
gives byte-identical input), and the dependencies are downloaded on the host
with ``pip download`` into a cache keyed by their pins (the versions the
development venv tests), then installed offline (``--no-index``) in the image.
Identical inputs give an identical build context, so ``build_image``'s content
tag makes a warm rebuild a registry HEAD request.

It runs as UID 65532 (no passwd entry needed; OpenShift may substitute its
own), with ``ENTRYPOINT ["/opt/shakedown/bin/shakedown"]`` and
``CMD ["run", "--all-namespaces"]``: the image alone runs ``shakedown run``,
and the manifests' ``args: [run, ...]`` replace only the command.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from shakedown.adapters.registry import ImageRef
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.images import FileSource, build_debian_image, build_image
from shakedown.localcluster.layout import Layout

NAME = "operator"
#: The debootstrap image the operator's Containerfile is built FROM here.
BASE_NAME = "operator-base"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Debian bookworm's python3 is 3.11: the wheels downloaded must fit it.
PYTHON_VERSION = "3.11"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
#: Runtime dependencies (pyproject.toml), pinned to the versions of the dev venv.
REQUIREMENTS = (
    "kopf",
    "kubernetes",
    "prometheus-client",
    "pydantic",
    "PyYAML",
    "croniter",
)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


#: The wheel's long description. Not the repository's README: editing the docs
#: must not rebuild the image.
README = b"shakedown: a Kubernetes operator; see the project's README.\n"


def source_files(repo: Path) -> dict[str, Path | bytes]:
    """Relative path -> host file (or bytes) of everything the wheel is built from."""
    files: dict[str, Path | bytes] = {
        "pyproject.toml": repo / "pyproject.toml",
        "README.md": README,
    }
    package = repo / "operator" / "shakedown"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
            files[str(path.relative_to(repo))] = path
    return files


def _digest(items: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for key in sorted(items):
        digest.update(f"\0{key}\0".encode())
        digest.update(items[key])
    return digest.hexdigest()[:16]


def _pip(*args: str, what: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise ClusterError(f"pip could not {what}: {last[:300]}")


def build_wheel(layout: Layout, repo: Path, say: Callable[[str], None]) -> Path:
    """The package's wheel, built from a copy of the sources (cached by their hash).

    A copy, so setuptools' build/ and egg-info never land in the working tree
    other people edit.
    """
    files = source_files(repo)
    contents = {
        name: src if isinstance(src, bytes) else src.read_bytes() for name, src in files.items()
    }
    key = _digest(contents)
    target = layout.cache / "operator-image" / f"wheel-{key}"
    wheels = sorted(target.glob("shakedown-*.whl"))
    if wheels:
        say(f"operator wheel {wheels[0].name} (cached)")
        return wheels[0]
    say("building the shakedown wheel (pip wheel)")
    with tempfile.TemporaryDirectory(prefix="shakedown-wheel-") as tmp:
        src = Path(tmp) / "src"
        for name, content in contents.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(content)
        out = Path(tmp) / "out"
        _pip("wheel", "--quiet", "--no-deps", "-w", str(out), str(src), what="build the wheel")
        built = sorted(out.glob("shakedown-*.whl"))
        if not built:
            raise ClusterError("pip wheel produced no shakedown wheel")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], target / built[0].name)
    return target / built[0].name


def pins() -> list[str]:
    """``name==version`` of each runtime dependency as installed here (the tested versions)."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]


def download_dependencies(
    layout: Layout, say: Callable[[str], None], requirements: Sequence[str] | None = None
) -> Path:
    """A folder of wheels for the pinned dependencies and theirs (cached by the pins).

    ``requirements`` replaces the runtime pins (the dogfooding base adds test tools).
    """
    requirements = list(requirements) if requirements is not None else pins()
    key = _digest({"pins": "\n".join([PYTHON_VERSION, *PLATFORMS, *requirements]).encode()})
    target = layout.cache / "operator-image" / f"deps-{key}"
    if (target / ".complete").exists():
        say("operator dependencies (cached)")
        return target
    say(f"downloading the operator's dependencies for Python {PYTHON_VERSION} (pip download)")
    shutil.rmtree(target, ignore_errors=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    _pip(
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        *platforms,
        "-d",
        str(target),
        *requirements,
        what="download the operator's dependencies",
    )
    (target / ".complete").write_text("\n".join(requirements) + "\n")
    return target


def wheels_context(*folders: Path) -> dict[str, FileSource]:
    """An offline build's context: the pins as ``wheels/constraints.txt`` and every wheel
    in ``folders`` under ``wheels/`` (what the Containerfile's OFFLINE install reads)."""
    context: dict[str, FileSource] = {
        "wheels/constraints.txt": ("\n".join(pins()) + "\n").encode(),
    }
    for folder in folders:
        for path in sorted(folder.glob("*.whl")):
            context[f"wheels/{path.name}"] = path
    return context


def containerfile(image: str) -> Path:
    """The project's Containerfile of ``image`` (``operator`` or ``builder``)."""
    return repo_root() / "images" / image / "Containerfile"


def build_debian_base(
    layout: Layout, name: str, packages: Sequence[str], say: Callable[[str], None]
) -> ImageRef:
    """``shakedown/<name>``: a debootstrap root filesystem with ``packages``, nothing else.

    The BASE the project's Containerfiles are built on here (a CI passes a
    Debian image from its registry instead).
    """
    return build_debian_image(layout, name, packages=packages, say=say)


def build_operator_image(
    layout: Layout | None = None,
    *,
    tag: str = "latest",
    say: Callable[[str], None] = print,
) -> ImageRef:
    """Build (or find, when its inputs are unchanged) the operator image in the local registry.

    images/operator/Containerfile on the debootstrap base, offline: the context
    holds the wheel, the dependencies' wheels and the pins as constraints.txt.
    """
    layout = layout or Layout.default()
    base = build_debian_base(layout, BASE_NAME, PACKAGES, say)
    wheel = build_wheel(layout, repo_root(), say)
    deps = download_dependencies(layout, say)
    context = {f"wheels/{wheel.name}": wheel, **wheels_context(deps)}
    return build_image(
        layout,
        NAME,
        containerfile=containerfile(NAME).read_text(encoding="utf-8"),
        context=context,
        build_args={"BASE": base.by_digest, "OFFLINE": "true"},
        tag=tag,
        say=say,
    )
