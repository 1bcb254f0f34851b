"""The CLI against a real API server: tables, watch, steering, and real rollouts and runs."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from kubernetes.client import ApiClient

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube
from tests.fixtures.imagerefresh import Refreshes
from tests.fixtures.infrarollout import (
    Operator,
    config_data,
    rollout,
    status,
    wait_for,
    wait_phase,
    workload,
)

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


def watch(kubeconfig: Path, *args: str) -> subprocess.Popen[str]:
    """``shakedown ARGS`` left running, its output read line by line (through ``Lines``)."""
    return subprocess.Popen(
        [str(SHAKEDOWN), *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=subprocess.PIPE,
        text=True,
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
    custom = kubeclient.custom(k8s_api)
    created: dict[str, Any] = custom.create_namespaced_custom_object(
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
    return created


def annotations_of(k8s_api: ApiClient, namespace: str, plural: str, name: str) -> dict[str, str]:
    obj = kubeclient.custom(k8s_api).get_namespaced_custom_object(
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
    value1 = annotations_of(k8s_api, namespace, "containerimagerefreshes", "unit-tests")[
        "shakedown.dev/run-requested"
    ]
    assert sh(kubeconfig, "trigger", "cir", "unit-tests", "-n", namespace).returncode == 0
    value2 = annotations_of(k8s_api, namespace, "containerimagerefreshes", "unit-tests")[
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
    kubeclient.custom(k8s_api).patch_namespaced_custom_object_status(
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
    got = annotations_of(k8s_api, namespace, "containerimagerefreshes", "unit-tests")
    assert got["shakedown.dev/rollback-to"] == D1


def test_promote_and_abort_set_annotations_only(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    custom = kubeclient.custom(k8s_api)
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
        assert annotation in annotations_of(k8s_api, namespace, "infrarollouts", "tasks")
    after = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "infrarollouts", "tasks")
    assert after["metadata"]["generation"] == created["metadata"]["generation"]
    assert after["spec"] == created["spec"]


def test_watch_prints_a_row_per_change(
    kubeconfig: Path, k8s_api: ApiClient, crds: list[str], namespace: str
) -> None:
    create_cir(k8s_api, namespace, "unit-tests")
    proc = watch(kubeconfig, "get", "cir", "-n", namespace, "--watch")
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        assert lines.next().startswith("NAME")
        assert lines.next().startswith("unit-tests")
        kubeclient.custom(k8s_api).patch_namespaced_custom_object(
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


# --------------------------------------------------------------------------- real rollouts and runs
def test_get_iro_pause_resume_undo_retry_on_a_real_canary(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    kubeconfig: Path,
) -> None:
    workload(kube, ns, busybox_image)
    canary = {
        "type": "Canary",
        "canary": {"steps": [{"weight": 50}, {"pause": "1h"}, {"weight": 100}]},
    }
    hello = {"name": "hello", "image": busybox_image, "command": ["sh", "-c", "echo job-says-hi"]}
    rollout(
        kube,
        ns,
        strategy=canary,
        bake="3s",
        extra={"smokeTests": {"readyFor": "2s", "jobs": [hello]}},
        http=False,
    )
    paused = wait_for(
        lambda: (
            (
                (s := status(kube, ns)).get("phase") in ("Failed", "RolledBack")
                or "paused" in (s.get("waitingFor") or "")
            )
            and s
        ),
        180,
        "the canary's timed pause",
    )
    assert paused["phase"] == "Shifting", paused
    shown = sh(kubeconfig, "get", "iro", "change", "-n", ns)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Phase:      Shifting" in out
    assert "Strategy:   Canary, step 2/3" in out
    assert "Paused:     at canary step 2: resumes by itself at" in out
    assert "`shakedown promote iro change`" in out
    assert "✔ Job hello: Passed" in out
    assert "  ├── Deployment/web: snapshotted" in out

    job_log = sh(kubeconfig, "logs", "iro", "change", "--check", "hello", "-n", ns)
    assert job_log.returncode == 0, job_log.stderr
    assert job_log.stdout == "job-says-hi\n", "the Job's pod, kept in the shadow during the pause"

    # Watch the view while a person pauses: a full, separated view per change.
    proc = watch(kubeconfig, "get", "iro", "change", "-n", ns, "--watch")
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        assert lines.next().startswith("NAME")
        assert sh(kubeconfig, "pause", "iro", "change", "-n", ns).returncode == 0
        # Promote while paused: the hold wins, production stays on v1.
        assert sh(kubeconfig, "promote", "iro", "change", "-n", ns).returncode == 0
        while "Paused:     by shakedown pause" not in (line := lines.next()):
            assert line, "the watch ended"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    held = wait_for(
        lambda: (
            "shakedown.dev/paused" in (status(kube, ns).get("waitingFor") or "")
            and status(kube, ns)
        ),
        60,
        "the hold",
    )
    assert held["currentStep"] == 1 and config_data(kube, ns)["MESSAGE"] == "v1"

    resumed = sh(kubeconfig, "resume", "iro", "change", "-n", ns)
    assert resumed.returncode == 0, resumed.stderr
    assert wait_phase(kube, ns, {"Succeeded", "Failed", "RolledBack"})["phase"] == "Succeeded"
    assert config_data(kube, ns)["MESSAGE"] == "v2"

    undo = sh(kubeconfig, "undo", "iro", "change", "-n", ns)
    assert undo.returncode == 0, undo.stderr
    undone = wait_phase(kube, ns, {"RolledBack", "Failed"})
    assert undone["phase"] == "RolledBack", undone
    assert config_data(kube, ns)["MESSAGE"] == "v1"
    assert undone["history"][0]["reason"].startswith("Undone")

    retry = sh(kubeconfig, "retry", "iro", "change", "-n", ns)
    assert retry.returncode == 0, retry.stderr
    again = wait_for(lambda: status(kube, ns).get("revision") == 2, 60, "revision 2")
    assert again
    refused = sh(kubeconfig, "retry", "iro", "change", "-n", ns)
    assert refused.returncode == 2 and "revision 2 is" in refused.stderr
    missing = sh(kubeconfig, "undo", "iro", "nope", "-n", ns)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f'shakedown: infrarollout "nope" not found in namespace {ns}'


def test_logs_and_retry_of_a_real_run(refreshes: Refreshes, registry: str, operator: Any) -> None:
    r = refreshes
    r.config_map("ctx", {"Containerfile": f"FROM {registry}/shakedown/busybox:latest\n"})
    r.create(
        "app",
        {
            "image": r.image("app"),
            "source": {"configMap": {"name": "ctx"}},
            "tests": [
                {
                    "name": "slow",
                    # Long enough for `shakedown logs` to start on a loaded machine (5 s
                    # at a load of 16) and find the pod before the run ends.
                    "command": ["sh", "-c", "echo slow-starts; sleep 20; echo slow-ends"],
                    "timeout": "1m",
                },
                {"name": "broken", "command": ["sh", "-c", "echo FAIL-broken; exit 3"]},
            ],
        },
    )
    # While the run is in flight its test pod is there: -f streams it to the end.
    r.wait_for(
        "the slow test's pod",
        lambda: any(
            (p.metadata.labels or {}).get("shakedown.dev/scenario") == "slow"
            and p.status.phase == "Running"
            for p in r.pods("app")
        ),
        180,
    )
    followed = r.cli("logs", "cir", "app", "--test", "slow", "-f", "-n", r.namespace)
    assert followed.returncode == 0, followed.stderr
    assert "slow-starts" in followed.stdout and "slow-ends" in followed.stdout
    assert "==> test slow (pod " in followed.stdout

    ended = r.wait_run("app", "1")
    assert ended["lastRun"]["phase"] == "Failed"
    after = r.cli("logs", "cir", "app", "--run", "1", "--test", "broken", "-n", r.namespace)
    assert after.returncode == 0, after.stderr
    assert "FAIL-broken" in after.stdout

    retried = r.cli("retry", "cir", "app", "-n", r.namespace)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "containerimagerefresh/app: retry of run 1 requested"
    r.wait_for(
        "run 2",
        lambda: (
            (r.status("app").get("currentRun") or r.status("app").get("lastRun") or {}).get("id")
            == "2"
        ),
        60,
    )
    suspended = r.cli("suspend", "cir", "app", "-n", r.namespace)
    assert suspended.returncode == 0, suspended.stderr
    assert r.get("app")["spec"]["suspend"] is True
    assert r.cli("resume", "cir", "app", "-n", r.namespace).returncode == 0
    assert r.get("app")["spec"]["suspend"] is False
