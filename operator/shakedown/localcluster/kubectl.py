"""The pinned kubectl against the local cluster, for the add-ons the cluster applies itself.

CoreDNS and kube-router's RBAC are plain manifests applied once the API server
is up. Applying both the same way leaves a copy of each under the state's
config directory for a person to read, and makes a failure read the same: the
command and kubectl's own words.
"""

from __future__ import annotations

import subprocess

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout


def kubectl(layout: Layout, *args: str, check: bool = True) -> str:
    """Run the pinned kubectl against the local cluster; return stdout."""
    proc = subprocess.run(
        [str(layout.binary("kubectl")), f"--kubeconfig={layout.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()[:300]}")
    return proc.stdout


def apply_manifests(layout: Layout, filename: str, text: str) -> None:
    """Write ``text`` to ``filename`` in the config directory and ``kubectl apply`` it."""
    path = layout.config / filename
    path.write_text(text)
    kubectl(layout, "apply", "-f", str(path))
