"""``shakedown prove`` as a CI job runs it: a subprocess against the real cluster.

Given the busybox web app of the InfraRollout tests in production and a pull
request's manifests in a file (a rollout of a ConfigMap change, and a refresh
built from a local context that the cluster cannot fetch from Git), when
``shakedown prove`` runs, then its exit code is the verdict, the summary and
JUnit files say the same, production is unchanged, and nothing it created is
left: not after success, not after failure, not after Ctrl-C mid-run. Invalid
input exits 2 and creates nothing.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from shakedown.adapters.workloads import Kube
from shakedown.demo.infrarollout import config_change, index_check, sample_targets
from shakedown.presentation.prove_plan import selector
from tests.fixtures.gitserver import GitServer
from tests.fixtures.infrarollout import wait_for, workload
from tests.fixtures.operator import SHAKEDOWN

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]

PRODUCTION = (("Deployment", "web"), ("ConfigMap", "web-config"), ("Service", "web"))


def rollout_doc(*, name: str = "change", message: str = "v2", ready_for: str = "3s") -> Any:
    return {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "InfraRollout",
        "metadata": {"name": name},
        "spec": {
            "targets": sample_targets("web"),
            "change": config_change("web", {"MESSAGE": message}),
            "shadow": {"ttl": "10m", "replicas": 1},
            "smokeTests": {"readyFor": ready_for, "http": [index_check("web", message)]},
            "timeout": "5m",
        },
    }


def refresh_doc(registry: str, ns: str, command: str) -> Any:
    return {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "ContainerImageRefresh",
        "metadata": {"name": "tool"},
        "spec": {
            "image": f"{registry}/{ns}/tool",
            "insecureRegistry": True,
            # Replaced by --context: the cluster could not fetch this.
            "source": {"git": {"url": "https://git.invalid/ci/images.git", "revision": "main"}},
            "schedule": "0 22 * * 0",
            "tests": [{"name": "smoke", "command": ["sh", "-c", command], "timeout": "2m"}],
        },
    }


def write(tmp_path: Path, *docs: Any) -> Path:
    path = tmp_path / "pr.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def context(tmp_path: Path, busybox_image: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {busybox_image}\nCOPY hello.txt /hello.txt\n")
    (ctx / "hello.txt").write_text("hello from the pull request\n")
    return ctx


def prove(
    kubeconfig: Path, ns: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHAKEDOWN), "prove", "-n", ns, *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def versions(kube: Kube, ns: str) -> dict[str, Any]:
    """What changes when anyone but the Deployment controller writes production.

    The ConfigMap and Service: their resourceVersion. The Deployment: its
    generation and every managedFields entry except the controller's own
    status writes, which a loaded machine makes whenever a pod's readiness
    flaps, and which are not writes by shakedown.
    """
    out: dict[str, Any] = {}
    for kind, name in PRODUCTION:
        meta = (kube.get(kind, ns, name) or {})["metadata"]
        if kind != "Deployment":
            out[f"{kind}/{name}"] = meta["resourceVersion"]
            continue
        writes = [
            (f.get("manager"), f.get("operation"), f.get("subresource"), f.get("time"))
            for f in meta.get("managedFields") or []
            if (f.get("manager"), f.get("subresource")) != ("kube-controller-manager", "status")
        ]
        out[f"{kind}/{name}"] = (meta.get("generation"), writes)
    return out


def assert_production_untouched(kube: Kube, ns: str, before: dict[str, Any]) -> None:
    assert versions(kube, ns) == before, "production written"


def created(kube: Kube, ns: str, prove_id: str) -> list[str]:
    """Everything labelled as made by ``prove --id prove_id``, and its shadow namespaces."""
    found = [
        f"{kind}/{obj['metadata']['name']}"
        for kind in ("InfraRollout", "ContainerImageRefresh", "ConfigMap")
        for obj in kube.list(kind, ns, labels=selector(prove_id))
    ]
    found += [
        f"Namespace/{obj['metadata']['name']}"
        for obj in kube.list("Namespace", None, labels="shakedown.dev/shadow=true")
        if obj["metadata"].get("labels", {}).get("shakedown.dev/infrarollout-namespace") == ns
    ]
    return found


def test_a_proven_change_exits_0_with_summary_and_junit_and_leaves_nothing(
    iro_operator: Any,
    builder_image: str,
    kube: Kube,
    ns: str,
    busybox_image: str,
    registry: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    workload(kube, ns, busybox_image)
    before = versions(kube, ns)
    pr = write(tmp_path, refresh_doc(registry, ns, "cat /hello.txt"), rollout_doc())
    ctx = context(tmp_path, busybox_image)
    summary, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    done = prove(
        kubeconfig, ns, "-f", str(pr), "--id", "PR 17", "--context", str(ctx),
        "--summary", str(summary), "--junit", str(junit), "--timeout", "4m",
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = done.stdout
    assert f"as {ns}/change-pr-17" in out and f"as {ns}/tool-pr-17" in out, out
    # Progress: a line per phase change of each copy, ending with the verdict.
    assert "iro/change" in out and "SmokeTesting" in out and "Validated" in out, out
    assert "cir/tool" in out and "Testing" in out, out
    assert out.rstrip().endswith("verdict: proven"), out
    text = summary.read_text()
    assert text.startswith("## shakedown prove `PR 17`: proven"), text
    assert "| `cir/tool` |" in text and "| `iro/change` |" in text and "Failed" not in text
    root = ET.parse(junit).getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    cases = {(c.get("classname"), c.get("name")) for c in root.iter("testcase")}
    assert {("cir.tool", "smoke"), ("iro.change", "index"), ("iro.change", "ready")} <= cases
    assert_production_untouched(kube, ns, before)
    assert created(kube, ns, "PR 17") == []


def test_a_failing_scenario_exits_1_with_its_log_tail(
    iro_operator: Any,
    builder_image: str,
    kube: Kube,
    ns: str,
    busybox_image: str,
    registry: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    pr = write(tmp_path, refresh_doc(registry, ns, "echo marker-of-a-broken-tool; exit 3"))
    ctx = context(tmp_path, busybox_image)
    summary, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    done = prove(
        kubeconfig, ns, "-f", str(pr), "--id", "18", "--context", str(ctx),
        "--summary", str(summary), "--junit", str(junit), "--timeout", "4m",
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "test smoke Failed" in done.stdout, done.stdout
    assert "| marker-of-a-broken-tool" in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("verdict: failed")
    text = summary.read_text()
    assert text.startswith("## shakedown prove `18`: failed"), text
    assert "marker-of-a-broken-tool" in text
    failure = ET.parse(junit).getroot().find(".//testcase[@name='smoke']/failure")
    assert failure is not None and "marker-of-a-broken-tool" in (failure.text or "")
    assert created(kube, ns, "18") == []


def test_a_failing_smoke_job_exits_1_with_its_output_and_production_untouched(
    iro_operator: Any,
    kube: Kube,
    ns: str,
    busybox_image: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    workload(kube, ns, busybox_image)
    before = versions(kube, ns)
    doc = rollout_doc()
    doc["spec"]["smokeTests"]["jobs"] = [
        {
            "name": "queue-drain",
            "image": busybox_image,
            "command": ["sh", "-c", "echo draining; echo marker-of-a-stuck-queue; exit 4"],
            "timeout": "1m",
        }
    ]
    junit = tmp_path / "junit.xml"
    done = prove(
        kubeconfig, ns, "-f", str(write(tmp_path, doc)), "--id", "22", "--junit", str(junit)
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    # The Job's output (its termination message) is in the verdict, on the terminal and in JUnit.
    assert "marker-of-a-stuck-queue" in done.stdout, done.stdout
    failures = ET.parse(junit).getroot().iter("failure")
    assert any("marker-of-a-stuck-queue" in (f.text or "") for f in failures)
    assert_production_untouched(kube, ns, before)
    assert created(kube, ns, "22") == []


def test_revision_builds_the_pull_requests_commit_not_the_branch(
    iro_operator: Any,
    builder_image: str,
    git_server: GitServer,
    kube: Kube,
    ns: str,
    busybox_image: str,
    registry: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    containerfile = f"FROM {busybox_image}\nCOPY version.txt /version.txt\n"
    repo = git_server.create_repo(
        f"prove-{ns}", {"Containerfile": containerfile, "version.txt": "pull-request\n"}
    )
    pr_commit = repo.head()
    repo.commit({"version.txt": "main-moved-on\n"}, "main moves on")
    doc = refresh_doc(registry, ns, "grep -x pull-request /version.txt")
    doc["spec"]["source"] = {"git": {"url": repo.url, "revision": "main"}}
    pr = write(tmp_path, doc)
    # main's version.txt fails the test; only the pull request's commit passes it.
    done = prove(
        kubeconfig, ns, "-f", str(pr), "--id", "21", "--revision", pr_commit, "--timeout", "4m"
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "cir/tool" in done.stdout and "Validated" in done.stdout
    assert created(kube, ns, "21") == []


def test_invalid_input_exits_2_names_the_field_and_creates_nothing(
    iro_operator: Any,
    kube: Kube,
    ns: str,
    busybox_image: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    workload(kube, ns, busybox_image)
    bad = rollout_doc(name="bad")
    bad["spec"]["strategy"] = {"type": "Sideways"}
    pr = write(tmp_path, rollout_doc(), bad)
    done = prove(kubeconfig, ns, "-f", str(pr), "--id", "19", timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "iro/bad" in done.stderr and "spec.strategy.type" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.rstrip().endswith("nothing was created")
    assert created(kube, ns, "19") == [] and kube.list("InfraRollout", ns) == []

    missing = rollout_doc()
    missing["spec"]["targets"].append({"kind": "Deployment", "name": "absent"})
    done = prove(kubeconfig, ns, "-f", str(write(tmp_path, missing)), "--id", "19", timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "spec.targets[3]: Deployment/absent: the production target does not exist" in (
        done.stderr
    ), done.stderr
    assert kube.list("InfraRollout", ns) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_deletes_the_copies_and_their_shadow(
    signum: signal.Signals,
    iro_operator: Any,
    kube: Kube,
    ns: str,
    busybox_image: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    workload(kube, ns, busybox_image)
    before = versions(kube, ns)
    pr = write(tmp_path, rollout_doc(ready_for="5m"))
    proc = subprocess.Popen(
        [str(SHAKEDOWN), "prove", "-n", ns, "-f", str(pr), "--id", "20", "--timeout", "8m"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while not any("SmokeTesting" in line for line in seen):
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, ("no SmokeTesting line", seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=left))
        # Mid-run: the copy and its shadow namespace exist.
        wait_for(
            lambda: any(c.startswith("Namespace/") for c in created(kube, ns, "20")), 60, "shadow"
        )
        proc.send_signal(signum)
        code = proc.wait(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert code == 128 + signum, err  # 130 for SIGINT, 143 for SIGTERM, as shells report
    assert f"interrupted ({signum.name})" in err, err
    # prove waited for the deletion itself: nothing is left, not even Terminating.
    assert created(kube, ns, "20") == []
    assert_production_untouched(kube, ns, before)
