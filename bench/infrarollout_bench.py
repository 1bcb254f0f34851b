"""InfraRollout benchmark: how fast the operator reacts when production breaks.

Two numbers, on a real cluster (the local one unless KUBECONFIG is set):

1. Operator-added rollback latency, over ``--rollbacks`` (>= 20) rollbacks.
   Each round rolls out a change (an env var on the sample Deployment) whose
   pods pass the shadow and then stop answering their readiness probe in
   production. The clock starts at the production pod's Ready=False
   ``lastTransitionTime`` plus ``rollback.notReadyFor`` (the wait the rule
   itself asks for; the operator's own deadline is computed from the same
   timestamp) and stops when this program's watch sees the restored
   Deployment (the rollback write accepted by the API server). p50/p95, goal
   p95 < 1 s. ``lastTransitionTime`` has whole-second precision; the operator
   computes its deadline from the same value, so the difference is its own
   reaction time (watch delivery, one observe/plan/record/act round).

2. Failure-to-healthy: from that ``lastTransitionTime`` until the Deployment is
   back on the old template with every replica Ready, with shakedown, versus a
   watcher that runs ``kubectl rollout undo`` the moment it sees the pod turn
   NotReady (the best a script can do by hand), on the same workload and the
   same change. Reported as a ratio (shakedown / kubectl).

Run: ``.venv/bin/python bench/infrarollout_bench.py [--rollbacks 20] [--baseline 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from benchkit import clean_up, cluster_and_image, wait
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube, apply_object
from shakedown.demo.infrarollout import sample_workload
from shakedown.localcluster import procs

REPO = Path(__file__).resolve().parents[1]
NOT_READY_FOR = 1.0
FAIL_AFTER = 6


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- observation
@dataclass
class Seen:
    """What this program's watches saw, with local receive times."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pod_failures: list[tuple[float, datetime, str]] = field(default_factory=list)
    """(seen at, Ready=False lastTransitionTime, pod) for pods that had been Ready."""
    deployments: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    ready_before: set[str] = field(default_factory=set)


def _watch(api: client.ApiClient, namespace: str, seen: Seen, stop: threading.Event) -> None:
    core = kubeclient.core(api)
    apps = kubeclient.apps(api)

    def pods() -> None:
        while not stop.is_set():
            w = kubeclient.watch()
            for event in w.stream(core.list_namespaced_pod, namespace, timeout_seconds=30):
                now = time.time()
                pod = event["object"]
                labels = pod.metadata.labels or {}
                if labels.get("app") != "web" or "shakedown.dev/role" in labels:
                    continue
                if pod.metadata.deletion_timestamp is not None:
                    continue  # a pod being replaced turns NotReady too: not a failure
                for cond in (pod.status.conditions or []) if pod.status else []:
                    if cond.type != "Ready":
                        continue
                    name = pod.metadata.name
                    with seen.lock:
                        if cond.status == "True":
                            seen.ready_before.add(name)
                        elif name in seen.ready_before and event["type"] != "DELETED":
                            seen.ready_before.discard(name)
                            seen.pod_failures.append((now, cond.last_transition_time, name))
                if stop.is_set():
                    w.stop()

    def deployments() -> None:
        while not stop.is_set():
            w = kubeclient.watch()
            for event in w.stream(apps.list_namespaced_deployment, namespace, timeout_seconds=30):
                now = time.time()
                obj: dict[str, Any] = kubeclient.plain(event["object"])
                with seen.lock:
                    seen.deployments.append((now, obj))
                if stop.is_set():
                    w.stop()

    for target in (pods, deployments):
        threading.Thread(target=target, daemon=True).start()


def _env_of(deployment: dict[str, Any]) -> dict[str, str]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in containers[0].get("env") or []}


def _healthy(deployment: dict[str, Any]) -> bool:
    status = deployment.get("status") or {}
    want = deployment["spec"].get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) == want
        and status.get("readyReplicas", 0) == want
        and status.get("replicas", 0) == want
    )


@dataclass(frozen=True)
class Round:
    failed_at: datetime
    """Ready=False lastTransitionTime of the production pod."""
    restored_seen: float
    """When the watch saw the Deployment back on the template without FAIL_AFTER."""
    healthy_seen: float


def _measure(seen: Seen, start: float, timeout: float = 180) -> Round:
    """Wait for a pod failure after ``start``, then the restore, then health."""
    deadline = time.time() + timeout
    failure: tuple[float, datetime, str] | None = None
    restored: float | None = None
    while time.time() < deadline:
        with seen.lock:
            failures = [f for f in seen.pod_failures if f[0] >= start]
            deployments = [d for d in seen.deployments if d[0] >= start]
        if failure is None and failures:
            failure = failures[0]
        if failure is not None:
            for when, obj in deployments:
                if when < failure[0] - 5:
                    continue
                if restored is None and "FAIL_AFTER" not in _env_of(obj):
                    restored = when
                if (
                    restored is not None
                    and when >= restored
                    and "FAIL_AFTER" not in _env_of(obj)
                    and _healthy(obj)
                ):
                    return Round(failure[1], restored, when)
        time.sleep(0.05)
    raise TimeoutError(f"no failure/restore/health seen within {timeout}s (failure={failure})")


# --------------------------------------------------------------------------- operator
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _operator(kubeconfig: Path, namespace: str, image: str, log: Path) -> Iterator[str]:
    metrics_port = _free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SHAKEDOWN_PROBE_IMAGE": image}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("shakedown")),
                "run",
                "--namespace",
                f"{namespace}*",
                "--metrics-port",
                str(metrics_port),
                "--metrics-address",
                "127.0.0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait(lambda: proc.poll() is None and _answers(url), 60)
        yield url
    finally:
        procs.terminate(proc)


def _answers(url: str) -> bool:
    """Whether the operator's metrics endpoint is up (it serves once the operator started)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _rollout_spec(iteration: int) -> dict[str, Any]:
    env = [
        {"name": "FAIL_AFTER", "value": str(FAIL_AFTER)},
        {"name": "BENCH_ITER", "value": str(iteration)},
    ]
    return {
        "targets": [
            {"kind": "Deployment", "name": "web"},
            {"kind": "ConfigMap", "name": "web-config"},
            {"kind": "Service", "name": "web"},
        ],
        "change": {
            "patches": [
                {
                    "target": {"kind": "Deployment", "name": "web"},
                    "type": "strategic",
                    "patch": {
                        "spec": {
                            "template": {"spec": {"containers": [{"name": "web", "env": env}]}}
                        }
                    },
                }
            ]
        },
        "shadow": {"ttl": "10m", "replicas": 1, "isolate": True},
        "smokeTests": {"readyFor": "1s"},
        "bake": "2m",
        "rollback": {"automatic": True, "notReadyFor": f"{NOT_READY_FOR:.0f}s", "maxRestarts": 2},
        "timeout": "10m",
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _scrape(url: str, name: str) -> dict[str, float]:
    """Samples starting with ``name``, summed over their labels (series are per rollout)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            sample = key.split("{", 1)[0]
            out[sample] = out.get(sample, 0.0) + float(value)
    return out


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rollbacks", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=5, help="kubectl rollout undo rounds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.rollbacks < 1:
        parser.error("--rollbacks must be at least 1")

    kubeconfig, image = cluster_and_image(say)
    api = kubeclient.client_for(kubeconfig)
    from shakedown.adapters.crds import install

    install(api)
    kube = Kube(kubeclient.connection(api))
    namespace = f"bench-iro-{secrets.token_hex(2)}"
    kube.create("Namespace", None, {"metadata": {"name": namespace}})
    time.sleep(1)
    say(f"namespace {namespace}, image {image}")
    results: dict[str, Any] = {}
    try:
        for obj in sample_workload("web", image, replicas=1):
            apply_object(kube, namespace, obj)
        seen = Seen()
        stop = threading.Event()
        _watch(api, namespace, seen, stop)
        wait(
            lambda: _healthy(
                kube.get("Deployment", namespace, "web") or {"spec": {}, "metadata": {}}
            ),
            120,
        )

        log = REPO / ".shakedown" / f"bench-operator-{namespace}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        added: list[float] = []
        to_healthy: list[float] = []
        with _operator(kubeconfig, namespace, image, log) as metrics_url:
            body = {
                "apiVersion": "shakedown.dev/v1alpha1",
                "kind": "InfraRollout",
                "metadata": {"name": "bench"},
                "spec": _rollout_spec(1),
            }
            for iteration in range(1, args.rollbacks + 1):
                start = time.time()
                if iteration == 1:
                    kube.create("InfraRollout", namespace, body)
                else:
                    kube.merge_patch(
                        "InfraRollout", namespace, "bench", {"spec": _rollout_spec(iteration)}
                    )
                measured = _measure(seen, start)

                def finished(revision: int = iteration) -> dict[str, Any] | None:
                    obj = kube.get("InfraRollout", namespace, "bench") or {}
                    s: dict[str, Any] = obj.get("status") or {}
                    done = s.get("phase") in ("RolledBack", "Succeeded", "Failed")
                    return s if s.get("revision") == revision and done else None

                status = wait(finished, 120)
                failed = measured.failed_at.timestamp()
                latency = measured.restored_seen - (failed + NOT_READY_FOR)
                healthy = measured.healthy_seen - failed
                added.append(latency)
                to_healthy.append(healthy)
                say(
                    f"  rollback {iteration:2d}: {status['phase']:<10}"
                    f" operator-added {latency * 1000:6.0f} ms,"
                    f" failure-to-healthy {healthy:5.2f} s"
                    f" ({(status.get('rollbackReason') or '')[:60]})"
                )
            histogram = _scrape(metrics_url, "shakedown_infrarollout_rollback_latency_seconds")
            kube.delete("InfraRollout", namespace, "bench")
            wait(lambda: kube.get("InfraRollout", namespace, "bench") is None, 120)
        results["operator_added_ms"] = {
            "n": len(added),
            "p50": round(_percentile(added, 0.5) * 1000, 1),
            "p95": round(_percentile(added, 0.95) * 1000, 1),
            "max": round(max(added) * 1000, 1),
        }
        count = histogram.get("shakedown_infrarollout_rollback_latency_seconds_count", 0.0)
        total = histogram.get("shakedown_infrarollout_rollback_latency_seconds_sum", 0.0)
        results["operator_metric_mean_ms"] = round(total / count * 1000, 1) if count else None
        results["shakedown_failure_to_healthy_s"] = {
            "p50": round(statistics.median(to_healthy), 2),
            "p95": round(_percentile(to_healthy, 0.95), 2),
        }

        # Baseline: the same change applied by hand, undone by kubectl the moment it breaks.
        manual: list[float] = []
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        for iteration in range(1, args.baseline + 1):
            wait(
                lambda: _healthy(
                    kube.get("Deployment", namespace, "web") or {"spec": {}, "metadata": {}}
                ),
                120,
            )
            start = time.time()
            subprocess.run(
                [
                    "kubectl",
                    "-n",
                    namespace,
                    "set",
                    "env",
                    "deployment/web",
                    f"FAIL_AFTER={FAIL_AFTER}",
                    f"BENCH_ITER=manual-{iteration}",
                ],
                check=True,
                env=env,
                capture_output=True,
            )

            def failed_since(since: float = start) -> bool:
                return any(f[0] >= since for f in seen.pod_failures)

            wait(failed_since, 120)
            subprocess.run(
                ["kubectl", "-n", namespace, "rollout", "undo", "deployment/web"],
                check=True,
                env=env,
                capture_output=True,
            )
            measured = _measure(seen, start)
            healthy = measured.healthy_seen - measured.failed_at.timestamp()
            manual.append(healthy)
            say(f"  kubectl undo {iteration}: failure-to-healthy {healthy:5.2f} s")
        stop.set()
        results["kubectl_failure_to_healthy_s"] = {
            "p50": round(statistics.median(manual), 2),
            "p95": round(_percentile(manual, 0.95), 2),
        }
        results["ratio_shakedown_over_kubectl_p50"] = round(
            statistics.median(to_healthy) / statistics.median(manual), 2
        )
        results["not_ready_for_s"] = NOT_READY_FOR
    finally:
        clean_up(kube, namespace)  # the operator is gone by now
    say(json.dumps(results, indent=2))
    p95 = results["operator_added_ms"]["p95"]
    say(
        f"operator-added rollback latency p95 {p95} ms:"
        f" {'meets' if p95 < 1000 else 'misses'} the 1 s goal"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
