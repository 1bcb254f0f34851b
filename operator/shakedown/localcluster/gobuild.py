"""Build the cluster's binaries from pinned Go modules, once per version.

Kubernetes and etcd come from ``hack/kube`` (the only place their versions are
written); the pause command from ``hack/images/pause``. Binaries land in the
cache directory with a stamp naming the inputs, so a warm start skips ``go``
entirely, and the Go build cache (Go's default, under ``~/.cache/go-build``)
makes a rebuild after a flag change a relink only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.filelock import file_lock
from shakedown.localcluster.layout import KUBE_COMMANDS, Layout, module_version

_DOWNLOAD_HINTS = (
    "dial tcp",
    "no such host",
    "proxy.golang.org",
    "connection refused",
    "i/o timeout",
    "TLS handshake timeout",
    "verifying module",
    "reading https://",
    "module lookup disabled",
    "unrecognized import path",
    "404 Not Found",
    "410 Gone",
)


def kube_ldflags(version: str) -> str:
    """Linker flags that stamp the Kubernetes version into the binaries."""
    major, minor = version.lstrip("v").split(".")[:2]
    parts = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        parts += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(parts)


def _go() -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise ClusterError(
            "the Go toolchain is not installed (need go >= 1.24 on PATH); install it from "
            "https://go.dev/dl and retry"
        )
    return go


def _stamp(inputs: Sequence[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in inputs:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run_go(args: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.run(
            args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        )
    if proc.returncode == 0:
        return
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
    if any(hint in line for line in lines for hint in _DOWNLOAD_HINTS):
        raise ClusterError(
            f"go could not download modules ({last[:200]}); check access to the Go module "
            f"proxy (GOPROXY={os.environ.get('GOPROXY', 'https://proxy.golang.org')}) and "
            f"retry; full log: {log}"
        )
    raise ClusterError(f"go build failed: {last[:240]}; full log: {log}")


@contextlib.contextmanager
def _build_lock(layout: Layout) -> Iterator[None]:
    """One ``go build`` into the cache at a time (several clusters may start at once)."""
    with file_lock(layout.cache / ".build.lock"):
        yield


def build_kube(layout: Layout, *, say: Callable[[str], None] = print) -> None:
    """Build etcd and the Kubernetes commands into ``layout.kube_bin`` if not there yet.

    Built binaries are used without taking the build lock: a warm ``up`` must not
    wait for another session's long build of something else.
    """
    if _kube_current(layout):
        _build_kube(layout, say=say)  # says "(cached)" only
        return
    with _build_lock(layout):
        _build_kube(layout, say=say)


def _kube_current(layout: Layout) -> bool:
    """The binaries of this version and flags are complete (the stamp is written last)."""
    moddir = layout.kube_module_dir
    inputs = [moddir / "go.mod", moddir / "go.sum", moddir / "etcd" / "main.go"]
    stamp = _stamp(inputs, kube_ldflags(layout.kube_version))
    stamp_file = layout.kube_bin / ".stamp"
    have = all(layout.binary(n).exists() for n in ["etcd", *KUBE_COMMANDS])
    return have and stamp_file.exists() and stamp_file.read_text().strip() == stamp


def _build_kube(layout: Layout, *, say: Callable[[str], None]) -> None:
    version = layout.kube_version
    moddir = layout.kube_module_dir
    ldflags = kube_ldflags(version)
    inputs = [moddir / "go.mod", moddir / "go.sum", moddir / "etcd" / "main.go"]
    stamp = _stamp(inputs, ldflags)
    stamp_file = layout.kube_bin / ".stamp"
    if _kube_current(layout):
        etcd = module_version(moddir / "go.mod", "go.etcd.io/etcd/server/v3")
        say(f"building etcd {etcd} (cached)")
        for name in KUBE_COMMANDS:
            say(f"building {name} {version} (cached)")
        return
    go = _go()
    layout.kube_bin.mkdir(parents=True, exist_ok=True)
    say(
        f"building etcd and {', '.join(KUBE_COMMANDS)} {version} with go build "
        "(first time takes several minutes; later runs use the cache)"
    )
    started = time.monotonic()
    stamp_file.unlink(missing_ok=True)  # readers without the lock: not current while building
    _run_go(
        [
            go,
            "build",
            "-trimpath",
            f"-ldflags={ldflags}",
            "-o",
            str(layout.kube_bin) + "/",
            "./etcd",
            *(f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS),
        ],
        cwd=moddir,
        log=layout.cache / "logs" / "go-build-kube.log",
    )
    stamp_file.write_text(stamp + "\n")
    say(f"built etcd and Kubernetes {version} in {time.monotonic() - started:.1f}s")


def build_static(
    layout: Layout,
    name: str,
    moddir: Path,
    *,
    package: str = ".",
    say: Callable[[str], None] = print,
) -> Path:
    """Build one static command of the Go module in ``moddir``; return its path.

    ``package`` is the command's import path when it lives in a module that
    ``moddir`` only requires (its version pinned by ``moddir/go.mod``). A built
    binary is used without the build lock (it only appears once complete).
    """
    out = _static_path(layout, name, moddir, package)
    if out.exists():
        say(f"building {name} (cached)")
        return out
    with _build_lock(layout):
        return _build_static(layout, name, moddir, package, say=say)


def _static_path(layout: Layout, name: str, moddir: Path, package: str) -> Path:
    inputs = sorted(p for p in moddir.rglob("*") if p.is_file())
    stamp = _stamp(inputs, "CGO_ENABLED=0 -s -w" + ("" if package == "." else f" {package}"))
    return layout.cache / "bin" / name / stamp[:16] / name


def _build_static(
    layout: Layout, name: str, moddir: Path, package: str, *, say: Callable[[str], None]
) -> Path:
    out = _static_path(layout, name, moddir, package)
    out_dir = out.parent
    if out.exists():
        say(f"building {name} (cached)")
        return out
    go = _go()
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"building {name} with go build")
    env = {**os.environ, "CGO_ENABLED": "0"}
    started = time.monotonic()
    partial = out.with_name(f".{name}.partial")
    _run_go(
        [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), package],
        cwd=moddir,
        log=layout.cache / "logs" / f"go-build-{name}.log",
        env=env,
    )
    partial.replace(out)  # appears complete, for readers that take no lock
    say(f"built {name} in {time.monotonic() - started:.1f}s")
    return out


def installed_version(binary: Path) -> str:
    """What ``binary --version`` prints (for status output)."""
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def describe_stamp(layout: Layout) -> dict[str, str]:
    """The cache's record of what was built (for ``status``)."""
    stamp_file = layout.kube_bin / ".stamp"
    return {
        "version": layout.kube_version,
        "stamp": stamp_file.read_text().strip() if stamp_file.exists() else "",
    }


#: For the other builders in this package (``flux``): one lock, one way to run go.
build_lock = _build_lock
go_command = _go
run_go = _run_go
