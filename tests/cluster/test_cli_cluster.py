"""The CLI against a real API server: get tables and steering annotations."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient

from shakedown import GROUP, VERSION

pytestmark = pytest.mark.cluster

SHAKEDOWN = Path(sys.executable).with_name("shakedown")
D1 = "sha256:" + "a1" * 32
D2 = "sha256:" + "b2" * 32


def sh(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHAKEDOWN), *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )


class Lines:
    """A subprocess's stdout read line by line, each read with its own deadline.

    A reader thread feeds a queue, so a CLI that stops printing fails the test in
    seconds instead of blocking ``readline()`` until pytest's timeout.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put("")  # end of output

    def next(self, timeout: float = 30) -> str:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s") from None


def create_cir(k8s_api: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    custom = client.CustomObjectsApi(k8s_api)
    return custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP,
        VERSION,
        namespace,
        "containerimagerefreshes",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ContainerImageRefresh",
            "metadata": {"name": name},
            "spec": {
                "image": "registry.example/ci/unit-tests",
                "source": {"configMap": {"name": "ctx"}},
                "tests": [{"name": "t"}],
                "suspend": True,
            },
        },
    )


def annotations(k8s_api: ApiClient, namespace: str, plural: str, name: str) -> dict[str, str]:
    obj = client.CustomObjectsApi(k8s_api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, name
    )
    return dict(obj["metadata"].get("annotations") or {})


def test_get_lists_objects(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    create_cir(k8s_api, namespace, "unit-tests")
    result = sh(kubeconfig, "get", "cir", "-n", namespace)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "TAG", "PROMOTED"]
    assert row.split()[:2] == ["unit-tests", "latest"]
    everywhere = sh(kubeconfig, "get", "cir", "-A")
    assert any(
        line.split()[:2] == [namespace, "unit-tests"] for line in everywhere.stdout.splitlines()
    )
    missing = sh(kubeconfig, "get", "cir", "nope", "-n", namespace)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f'shakedown: containerimagerefresh "nope" not found in namespace {namespace}'
    )
    empty = sh(kubeconfig, "get", "iro", "-n", namespace)
    assert empty.stdout.startswith("No infrarollouts found")


def test_trigger_sets_a_new_run_request_each_time(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    create_cir(k8s_api, namespace, "unit-tests")
    first = sh(kubeconfig, "trigger", "cir", "unit-tests", "-n", namespace)
    assert first.returncode == 0, first.stderr
    value1 = annotations(k8s_api, namespace, "containerimagerefreshes", "unit-tests")[
        "shakedown.dev/run-requested"
    ]
    assert sh(kubeconfig, "trigger", "cir", "unit-tests", "-n", namespace).returncode == 0
    value2 = annotations(k8s_api, namespace, "containerimagerefreshes", "unit-tests")[
        "shakedown.dev/run-requested"
    ]
    assert value1 != value2


def test_rollback_uses_status_history(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    create_cir(k8s_api, namespace, "unit-tests")
    refused = sh(kubeconfig, "rollback", "cir", "unit-tests", "-n", namespace)
    assert refused.returncode == 2
    assert "no earlier promoted digest" in refused.stderr
    # Status as the operator would have written it (through the status subresource).
    client.CustomObjectsApi(k8s_api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "containerimagerefreshes",
        "unit-tests",
        {
            "status": {
                "promotedDigest": D2,
                "history": [
                    {"digest": D2, "promotedAt": "2026-01-02T00:00:00Z", "runId": "r2"},
                    {"digest": D1, "promotedAt": "2026-01-01T00:00:00Z", "runId": "r1"},
                ],
            }
        },
    )
    done = sh(kubeconfig, "rollback", "cir", "unit-tests", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert D1 in done.stdout
    got = annotations(k8s_api, namespace, "containerimagerefreshes", "unit-tests")
    assert got["shakedown.dev/rollback-to"] == D1


def test_promote_and_abort_set_annotations_only(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    created = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "infrarollouts",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InfraRollout",
            "metadata": {"name": "tasks"},
            "spec": {
                "targets": [{"kind": "Deployment", "name": "tasks"}],
                "change": {"images": [{"container": "tasks", "image": "registry.example/t:2"}]},
            },
        },
    )
    for verb, annotation in (
        ("promote", "shakedown.dev/promote"),
        ("abort", "shakedown.dev/abort"),
    ):
        result = sh(kubeconfig, verb, "iro", "tasks", "-n", namespace)
        assert result.returncode == 0, result.stderr
        assert annotation in annotations(k8s_api, namespace, "infrarollouts", "tasks")
    after = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "infrarollouts", "tasks")
    assert after["metadata"]["generation"] == created["metadata"]["generation"]
    assert after["spec"] == created["spec"]


def test_watch_prints_a_row_per_change(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    create_cir(k8s_api, namespace, "unit-tests")
    proc = subprocess.Popen(
        [str(SHAKEDOWN), "get", "cir", "-n", namespace, "--watch"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        assert lines.next().startswith("NAME")
        assert lines.next().startswith("unit-tests")
        client.CustomObjectsApi(k8s_api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "containerimagerefreshes",
            "unit-tests",
            {"spec": {"tag": "stable"}},
        )
        changed = lines.next().split()
        assert changed[:2] == ["unit-tests", "stable"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
