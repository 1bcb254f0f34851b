"""Container images built on this machine and pushed to the local registry.

Nothing is pulled from a public registry: the pause image (a static Go
program) and busybox (Debian's busybox-static) are built FROM scratch, and
``build_debian_image`` makes images with a real Debian userland from a
debootstrap root filesystem. Builds use buildah (vfs storage under the cache
directory, so a crash leaves no mounts) and are keyed by a hash of their
inputs: the hash is pushed as a tag, so when the registry already holds it
nothing is built or pushed again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout

#: What a file in an image may be given as: its bytes, a host file, or (bytes, mode).
FileSource = bytes | Path | tuple[bytes, int]

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

DEBIAN_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageRef:
    """An image in the local registry: ``registry/repository:tag`` and its digest."""

    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def by_digest(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


def registry_digest(registry: str, repository: str, tag: str, *, timeout: float = 5) -> str | None:
    """The digest the registry serves for ``repository:tag``, or None when absent."""
    req = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            digest: str | None = resp.headers.get("Docker-Content-Digest")
            return digest
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ClusterError(
            f"registry {registry} answered {exc.code} for {repository}:{tag}"
        ) from None
    except OSError as exc:
        raise ClusterError(
            f"registry {registry} is not reachable ({exc}); start the cluster with 'make cluster'"
        ) from None


def buildah(layout: Layout, *args: str, input_text: str | None = None) -> str:
    """Run buildah with the cluster's own image store; return stdout."""
    cmd = [
        "buildah",
        "--root",
        str(layout.buildah_root),
        "--runroot",
        str(layout.buildah_runroot),
        "--storage-driver",
        "vfs",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input_text, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise ClusterError(f"buildah {args[0]} failed: {last[:300]}")
    return proc.stdout


def _file_bytes(source: FileSource) -> tuple[bytes, int]:
    if isinstance(source, tuple):
        return source
    if isinstance(source, Path):
        return source.read_bytes(), source.stat().st_mode & 0o7777
    return source, 0o644


def _source_hash(source: FileSource) -> bytes:
    """sha256 of a source's content and mode (host files are read in chunks)."""
    digest = hashlib.sha256()
    if isinstance(source, Path):
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        mode = source.stat().st_mode & 0o7777
    else:
        data, mode = _file_bytes(source)
        digest.update(data)
    digest.update(f"\0{mode:o}".encode())
    return digest.digest()


def make_tar(
    files: Mapping[str, FileSource],
    *,
    dirs: Mapping[str, int] | None = None,
    symlinks: Mapping[str, str] | None = None,
) -> bytes:
    """A reproducible tar (sorted, mtime 0, root-owned) of files, directories and links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries: list[tuple[str, tarfile.TarInfo, bytes | None]] = []
        for path, mode in (dirs or {}).items():
            info = tarfile.TarInfo(path.strip("/"))
            info.type, info.mode = tarfile.DIRTYPE, mode
            entries.append((info.name, info, None))
        for path, target in (symlinks or {}).items():
            info = tarfile.TarInfo(path.strip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            entries.append((info.name, info, None))
        for path, source in files.items():
            content, mode = _file_bytes(source)
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode = len(content), mode
            entries.append((info.name, info, content))
        for _, info, data in sorted(entries, key=lambda e: e[0]):
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def build_image(
    layout: Layout,
    name: str,
    *,
    containerfile: str,
    context: Mapping[str, FileSource],
    tag: str = "latest",
    say: Callable[[str], None] = print,
) -> ImageRef:
    """Build ``containerfile`` with ``context`` and push it as ``shakedown/<name>:<tag>``.

    The image is also tagged ``h-<hash of the inputs>``; when the registry already
    serves that tag, nothing is built or pushed and its digest is returned.
    """
    registry = layout.network.registry
    repository = f"shakedown/{name}"
    digest = hashlib.sha256(containerfile.encode())
    for path in sorted(context):
        digest.update(f"\0{path}\0".encode())
        digest.update(_source_hash(context[path]))
    content_tag = f"h-{digest.hexdigest()[:20]}"
    have = registry_digest(registry, repository, content_tag)
    if have is not None and registry_digest(registry, repository, tag) == have:
        say(f"image {repository}:{tag} (cached)")
        return ImageRef(registry, repository, tag, have)
    local = f"localhost/{repository}:{content_tag}"
    if not _local_has(layout, local):
        say(f"building image {repository}:{tag} with buildah")
        with tempfile.TemporaryDirectory(prefix=f"shakedown-{name}-") as tmp:
            ctx = Path(tmp)
            (ctx / "Containerfile").write_text(containerfile)
            for path, source in context.items():
                dest = ctx / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(source, Path):
                    shutil.copyfile(source, dest)
                    dest.chmod(source.stat().st_mode & 0o7777)
                else:
                    data, mode = _file_bytes(source)
                    dest.write_bytes(data)
                    dest.chmod(mode)
            buildah(
                layout,
                "build",
                "--isolation=chroot",
                "--layers=false",
                "--format=oci",
                "-f",
                str(ctx / "Containerfile"),
                "-t",
                local,
                str(ctx),
            )
    else:
        say(f"image {repository}:{tag} built before; pushing")
    pushed = ""
    for target in (content_tag, tag):
        pushed = push(layout, local, f"{registry}/{repository}:{target}")
    return ImageRef(registry, repository, tag, pushed)


def _local_has(layout: Layout, ref: str) -> bool:
    try:
        buildah(layout, "inspect", "--type", "image", "--format", "{{.FromImageID}}", ref)
    except ClusterError:
        return False
    return True


def push(layout: Layout, local: str, remote: str) -> str:
    """Push a local buildah image to the (plain HTTP) registry; return the digest."""
    with tempfile.NamedTemporaryFile(prefix="shakedown-digest-") as digest_file:
        buildah(
            layout,
            "push",
            "--tls-verify=false",
            "--digestfile",
            digest_file.name,
            local,
            f"docker://{remote}",
        )
        return Path(digest_file.name).read_text().strip()


# -- the cluster's own images ----------------------------------------------------------
def build_pause(
    layout: Layout, pause_binary: Path, *, say: Callable[[str], None] = print
) -> ImageRef:
    """The pod sandbox image: the static pause program FROM scratch."""
    containerfile = 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n'
    return build_image(
        layout, "pause", containerfile=containerfile, context={"pause": pause_binary}, say=say
    )


def busybox_rootfs() -> bytes:
    """Debian's busybox-static with a link per applet, /tmp, and root/nobody accounts."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise ClusterError("busybox-static is not installed; run 'make cluster' to install it")
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    links = {
        applet: "/bin/busybox"
        for applet in applets
        if applet not in ("bin/busybox", "usr/bin/busybox")
    }
    files: dict[str, FileSource] = {
        "bin/busybox": (busybox.read_bytes(), 0o755),
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnobody:x:65534:\n",
        "etc/hosts": b"127.0.0.1 localhost\n",
    }
    dirs = {
        d: 0o755 for d in ("bin", "etc", "var", "var/www", "usr", "usr/bin", "usr/sbin", "sbin")
    }
    dirs |= {"root": 0o700, "tmp": 0o1777}
    return make_tar(files, dirs=dirs, symlinks=links)


def build_busybox(layout: Layout, *, say: Callable[[str], None] = print) -> ImageRef:
    """A small base image: busybox FROM scratch (sh, wget, httpd, nc, ...)."""
    containerfile = (
        'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["/bin/sh"]\n'
    )
    return build_image(
        layout,
        "busybox",
        containerfile=containerfile,
        context={"rootfs.tar": busybox_rootfs()},
        say=say,
    )


# -- Debian images ------------------------------------------------------------------------
def debootstrap_rootfs(
    layout: Layout,
    packages: Sequence[str] = (),
    *,
    suite: str = "bookworm",
    mirror: str = DEBIAN_MIRROR,
    say: Callable[[str], None] = print,
) -> Path:
    """A tarball of a minimal Debian root filesystem with ``packages``, cached by its inputs."""
    key = hashlib.sha256(json.dumps([suite, mirror, sorted(packages)]).encode()).hexdigest()[:16]
    cache = layout.cache / "debootstrap"
    tarball = cache / f"{suite}-{key}.tar"
    if tarball.exists():
        say(f"debootstrap {suite} {' '.join(sorted(packages))} (cached)")
        return tarball
    if shutil.which("debootstrap") is None:
        raise ClusterError("debootstrap is not installed; run 'make cluster' to install it")
    cache.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {suite} with {' '.join(sorted(packages)) or 'no extra packages'}")
    with tempfile.TemporaryDirectory(prefix="shakedown-debootstrap-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        args = ["debootstrap", "--variant=minbase"]
        if packages:
            args.append(f"--include={','.join(sorted(packages))}")
        log = cache / f"{suite}-{key}.log"
        with log.open("w") as out:
            proc = subprocess.run(
                [*args, suite, str(root), mirror], stdout=out, stderr=subprocess.STDOUT, check=False
            )
        if proc.returncode != 0:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            raise ClusterError(f"debootstrap failed: {(lines or ['?'])[-1][:200]}; full log: {log}")
        # Keep images small: apt lists and caches are not needed at run time.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(f".partial-{os.getpid()}")
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."],
            check=True,
        )
        partial.rename(tarball)
    return tarball


def build_debian_image(
    layout: Layout,
    name: str,
    *,
    packages: Sequence[str] = (),
    extra_files: Mapping[str, FileSource] | None = None,
    run: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    user: str | None = None,
    workdir: str | None = None,
    tag: str = "latest",
    suite: str = "bookworm",
    say: Callable[[str], None] = print,
) -> ImageRef:
    """Build ``shakedown/<name>:<tag>`` from Debian ``packages`` and push it to the registry.

    The root filesystem comes from ``debootstrap --variant=minbase`` (cached under
    ``~/.cache/shakedown/debootstrap``); ``extra_files`` (image path -> bytes, a host
    file, or (bytes, mode)) are added on top, then each ``run`` command runs in the
    image with ``/bin/sh -c`` (chroot isolation). Returns the pushed image with its digest.
    """
    rootfs = debootstrap_rootfs(layout, packages, suite=suite, say=say)
    lines = ["FROM scratch", "ADD rootfs.tar /"]
    context: dict[str, FileSource] = {"rootfs.tar": rootfs}
    if extra_files:
        context["extra.tar"] = make_tar(dict(extra_files))
        lines.append("ADD extra.tar /")
    for key, value in (env or {}).items():
        lines.append(f"ENV {key}={json.dumps(value)}")
    lines += [f"RUN {command}" for command in run]
    if workdir:
        lines.append(f"WORKDIR {workdir}")
    if user:
        lines.append(f"USER {user}")
    if entrypoint is not None:
        lines.append(f"ENTRYPOINT {json.dumps(list(entrypoint))}")
    if cmd is not None:
        lines.append(f"CMD {json.dumps(list(cmd))}")
    return build_image(
        layout, name, containerfile="\n".join(lines) + "\n", context=context, tag=tag, say=say
    )
