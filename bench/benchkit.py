"""Pieces every InfraRollout benchmark needs: a bounded poll and the clean-up after a run.

The benchmarks are scripts (``python bench/NAME.py``), so this sits next to them
and is imported by its bare name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
