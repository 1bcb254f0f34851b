"""Build Flux's source- and kustomize-controller from pinned Go modules, once per version.

The GitOps tests run a real Flux against the local cluster, out of cluster, so
nothing has to be pulled from an image registry. The versions are written only
in ``hack/flux/modules.txt``. A controller's module cannot be built where the
module cache keeps it: its ``go.mod`` replaces its own ``api`` module with
``./api``, a nested module that the module zip leaves out. So the build copies
the module to a writable directory in the cache, puts the ``api`` module it
requires beside it, and builds there. The binary and the copy (which also holds
the CRDs, ``config/crd/bases``) stay in ``~/.cache/shakedown/flux``; a warm
call does no Go work at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.gobuild import build_lock, go_command, run_go
from shakedown.localcluster.layout import Layout


@dataclass(frozen=True)
class FluxModule:
    """One pinned controller module."""

    path: str
    version: str

    @property
    def name(self) -> str:
        """The command's name, e.g. ``source-controller``."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FluxPins:
    """What ``hack/flux/modules.txt`` pins: a Go toolchain and the controller modules."""

    toolchain: str
    modules: tuple[FluxModule, ...]
    replacements: tuple[FluxModule, ...] = ()
    """Dependencies built at another version than the controllers' go.mod names."""

    def module(self, name: str) -> FluxModule:
        for module in self.modules:
            if module.name == name:
                return module
        raise ClusterError(f"hack/flux/modules.txt pins no module named {name}")


def parse_pins(text: str, *, source: str = "hack/flux/modules.txt") -> FluxPins:
    """Read the pins file: ``toolchain goX.Y.Z``, ``<module> <version>``, ``replace <module>
    <version>`` lines."""
    toolchain = ""
    modules: list[FluxModule] = []
    replacements: list[FluxModule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        replace = parts[0] == "replace"
        if replace:
            parts = parts[1:]
        if len(parts) != 2:
            raise ClusterError(f"{source}:{number}: expected two words, got {raw.strip()!r}")
        key, value = parts
        if key == "toolchain":
            if not re.fullmatch(r"go\d+\.\d+(\.\d+)?", value):
                raise ClusterError(f"{source}:{number}: toolchain {value!r} is not like go1.27.3")
            toolchain = value
        elif re.fullmatch(r"v\d+\.\d+\.\d+\S*", value):
            (replacements if replace else modules).append(FluxModule(path=key, version=value))
        else:
            raise ClusterError(f"{source}:{number}: version {value!r} of {key} is not like v1.2.3")
    if not modules:
        raise ClusterError(f"{source} pins no module")
    return FluxPins(toolchain=toolchain, modules=tuple(modules), replacements=tuple(replacements))


def replaced_local_requires(go_mod: str) -> dict[str, str]:
    """Modules that ``go_mod`` replaces with a local directory, with the version it requires.

    The module zip leaves nested modules out, so each of these has to be
    fetched on its own and put at the replacement's path before a build.
    """
    replaced = dict(
        re.findall(r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+(\./\S+)\s*$", go_mod, re.M)
    )
    wanted: dict[str, str] = {}
    for module in replaced:
        match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.M)
        if match is None:
            raise ClusterError(f"go.mod replaces {module} but does not require it")
        wanted[module] = match.group(1)
    return {f"{module}@{wanted[module]}": replaced[module] for module in replaced}


def pins(layout: Layout) -> FluxPins:
    path = layout.repo / "hack" / "flux" / "modules.txt"
    try:
        return parse_pins(path.read_text(), source=str(path))
    except FileNotFoundError:
        raise ClusterError(f"{path} is missing; restore it from git") from None


def source_dir(layout: Layout, module: FluxModule) -> Path:
    """The writable copy of the module (its CRDs are in ``config/crd/bases``)."""
    return layout.cache / "flux" / f"{module.name}@{module.version}" / "src"


def binary_path(layout: Layout, module: FluxModule) -> Path:
    return layout.cache / "flux" / f"{module.name}@{module.version}" / "bin" / module.name


def crd_files(layout: Layout, name: str) -> list[Path]:
    """The CRDs the built module ships (call after :func:`build_flux`)."""
    bases = source_dir(layout, pins(layout).module(name)) / "config" / "crd" / "bases"
    files = sorted(bases.glob("*.yaml"))
    if not files:
        raise ClusterError(f"no CRDs in {bases}; build the Flux controllers first")
    return files


def build_flux(layout: Layout, *, say: Callable[[str], None] = print) -> dict[str, Path]:
    """Build every pinned controller that is not in the cache yet; name -> binary."""
    pinned = pins(layout)
    with build_lock(layout):
        return {m.name: _build_one(layout, pinned, m, say=say) for m in pinned.modules}


def _go_env(pinned: FluxPins) -> dict[str, str]:
    env = {**os.environ, "CGO_ENABLED": "0"}
    if pinned.toolchain:
        env["GOTOOLCHAIN"] = pinned.toolchain
    return env


def _download(layout: Layout, spec: str, *, env: dict[str, str], log_name: str) -> Path:
    """``go mod download`` one ``module@version``; the read-only directory it landed in."""
    work = layout.cache / "flux"
    work.mkdir(parents=True, exist_ok=True)
    log = layout.cache / "logs" / f"go-download-{log_name}.log"
    run_go([go_command(), "mod", "download", "-json", spec], cwd=work, log=log, env=env)
    info = json.loads(log.read_text()[log.read_text().index("{") :])
    if info.get("Error") or not info.get("Dir"):
        raise ClusterError(f"go mod download {spec}: {info.get('Error', 'no directory')}")
    return Path(info["Dir"])


def _copy_writable(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for root, dirs, _files in os.walk(dst):
        for name in dirs:
            (Path(root) / name).chmod(0o755)
    dst.chmod(0o755)


def _build_one(
    layout: Layout, pinned: FluxPins, module: FluxModule, *, say: Callable[[str], None]
) -> Path:
    out = binary_path(layout, module)
    stamp = out.parent / ".stamp"
    swaps = " ".join(f"{r.path}@{r.version}" for r in pinned.replacements)
    expected = f"{module.path}@{module.version} {pinned.toolchain} {swaps} CGO_ENABLED=0 -s -w"
    if out.exists() and stamp.exists() and stamp.read_text().strip() == expected:
        say(f"building {module.name} {module.version} (cached)")
        return out
    say(f"building {module.name} {module.version} with go build (first time takes minutes)")
    started = time.monotonic()
    env = _go_env(pinned)
    moddir = _download(layout, f"{module.path}@{module.version}", env=env, log_name=module.name)
    src = source_dir(layout, module)
    if src.exists():
        shutil.rmtree(src)
    src.parent.mkdir(parents=True, exist_ok=True)
    _copy_writable(moddir, src)
    for spec, local in replaced_local_requires((src / "go.mod").read_text()).items():
        nested = _download(layout, spec, env=env, log_name=f"{module.name}-api")
        target = (src / local).resolve()
        if target.exists():
            shutil.rmtree(target)
        _copy_writable(nested, target)
    go_mod = (src / "go.mod").read_text()
    replaced = [r for r in pinned.replacements if re.search(rf"\s{re.escape(r.path)}\s", go_mod)]
    for dep in replaced:
        run_go(
            [go_command(), "mod", "edit", f"-replace={dep.path}={dep.path}@{dep.version}"],
            cwd=src,
            log=layout.cache / "logs" / f"go-mod-edit-{module.name}.log",
            env=env,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    run_go(
        [
            go_command(),
            "build",
            *(["-mod=mod"] if replaced else []),
            "-trimpath",
            "-ldflags=-s -w",
            "-o",
            str(out),
            ".",
        ],
        cwd=src,
        log=layout.cache / "logs" / f"go-build-{module.name}.log",
        env=env,
    )
    stamp.write_text(expected + "\n")
    say(f"built {module.name} {module.version} in {time.monotonic() - started:.1f}s")
    return out
