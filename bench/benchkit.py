"""Pieces every InfraRollout benchmark needs: a bounded poll and the clean-up after a run.

The benchmarks are scripts (``python bench/NAME.py``), so this sits next to them
and is imported by its bare name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shakedown.adapters.workloads import Kube


def wait(probe: Callable[[], Any], timeout: float) -> Any:
    """``probe()``'s first truthy value, polled every 0.2 s; TimeoutError after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout}s")


def clean_up(kube: Kube, namespace: str) -> None:
    """Delete the benchmark's namespace and its shadows, once the operator has stopped:
    nothing would remove the InfraRollouts' finalizers then, so they are dropped here."""
    for leftover in kube.list("InfraRollout", namespace):
        kube.merge_patch(
            "InfraRollout",
            namespace,
            leftover["metadata"]["name"],
            {"metadata": {"finalizers": None}},
        )
    kube.delete("Namespace", None, namespace)
    for shadow in kube.list("Namespace", None, labels="shakedown.dev/shadow=true"):
        if shadow["metadata"]["name"].startswith(namespace):
            kube.delete("Namespace", None, shadow["metadata"]["name"])


def cluster_and_image(say: Callable[[str], None]) -> tuple[Path, str]:
    """The cluster to measure on and the busybox image its pods run.

    ``KUBECONFIG`` with ``REGISTRY`` when set (another cluster, or a shared local
    one: ``eval "$(shakedown cluster env)"``); otherwise the local cluster, started
    if needed and held until the bench exits.
    """
    from shakedown.localcluster import cluster, images
    from shakedown.localcluster.layout import Layout

    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"]), f"{os.environ['REGISTRY']}/shakedown/busybox:latest"
    layout = Layout.default()
    cluster.acquire(layout, say=lambda m: say(f"  {m}"))
    return layout.kubeconfig, images.build_busybox(layout, say=lambda m: None).ref
