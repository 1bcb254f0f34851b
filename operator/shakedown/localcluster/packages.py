"""Debian packages the local cluster needs, installed by apt when missing.

The project installs what it needs itself (never by hand): this module checks
for each command the cluster runs and installs the Debian packages that are
missing in one ``apt-get`` call, so a fresh machine and a warm one run the same
code. Services that packages would start on install are kept from starting by
Debian's ``policy-rc.d`` mechanism (the local cluster starts its own copies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from shakedown.localcluster.errors import ClusterError

#: Debian package -> a file it installs that the cluster uses.
REQUIRED: Mapping[str, str] = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "/usr/sbin/iptables",
    "conntrack": "/usr/sbin/conntrack",
    "buildah": "/usr/bin/buildah",
    "skopeo": "/usr/bin/skopeo",
    "docker-registry": "/usr/bin/docker-registry",
    "busybox-static": "/bin/busybox",
    "debootstrap": "/usr/sbin/debootstrap",
    "openssl": "/usr/bin/openssl",
    "iproute2": "/usr/sbin/ip",
    "util-linux": "/usr/bin/nsenter",
    "ipset": "/sbin/ipset",  # kube-router's NetworkPolicy firewall
    "nftables": "/usr/sbin/nft",  # the pods' isolation table (isolation.py)
}

_POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
#: Seconds apt waits for the dpkg lock another apt run holds.
APT_LOCK_TIMEOUT = 600


def missing(required: Mapping[str, str] = REQUIRED) -> list[str]:
    """The packages whose marker file is absent, in a stable order."""
    return sorted(pkg for pkg, path in required.items() if not os.path.exists(path))


def ensure(
    required: Mapping[str, str] = REQUIRED, *, say: Callable[[str], None] = print
) -> list[str]:
    """Install the missing packages; return what was installed.

    Raises ``ClusterError`` with the apt error line when apt cannot install
    them (no root, no network to the Debian mirror, an unknown package).
    """
    todo = missing(required)
    if not todo:
        return []
    if os.geteuid() != 0:
        raise ClusterError(
            f"Debian packages missing: {' '.join(todo)}; run as root, or install them with "
            f"'sudo apt-get install {' '.join(todo)}'"
        )
    if shutil.which("apt-get") is None:
        raise ClusterError(
            f"Debian packages missing ({' '.join(todo)}) and apt-get is not available; "
            "the local cluster supports Debian 12"
        )
    say(f"installing Debian packages: {' '.join(todo)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    created_policy = False
    if not _POLICY_RC_D.exists():
        # Keep docker-registry and containerd from starting as system services.
        _POLICY_RC_D.write_text(
            "#!/bin/sh\n# added by shakedown during apt-get install\nexit 101\n"
        )
        _POLICY_RC_D.chmod(0o755)
        created_policy = True
    try:
        # Wait for another apt run (a parallel test session) instead of failing at once.
        wait = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}"]
        _apt(["apt-get", "update", "-qq", *wait], env)
        _apt(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *wait, *todo],
            env,
        )
    finally:
        if created_policy:
            _POLICY_RC_D.unlink(missing_ok=True)
    still = missing(required)
    if still:
        raise ClusterError(
            f"apt-get finished but these packages are still missing: {' '.join(still)}; "
            f"try 'apt-get install {' '.join(still)}' and read its output"
        )
    return todo


def _apt(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ClusterError(
            f"'{' '.join(cmd[:2])}' failed: {last.strip()}; check the Debian mirror in "
            "/etc/apt/sources.list* and retry"
        )
