"""Fail-fast benchmark: seconds from a broken shadow's evidence to the rollout's Failed.

For each case (crash loop, bad image, unschedulable, Ready then NotReady,
readyTimeout) a prove-only InfraRollout breaks the shadow copy of the sample
web Deployment on a real cluster (the local one unless KUBECONFIG is set),
while this program watches the shadow namespace's pods and Events and the
rollout itself. It prints:

- evidence: when the cluster says the evidence appeared, by the pod's own
  clock: the container's ``terminated.finishedAt`` (crash), the first pull
  ``Failed`` Event (bad image), ``PodScheduled`` ``lastTransitionTime``
  (unschedulable), ``Ready`` ``lastTransitionTime`` after it was True
  (NotReady), or SmokeTesting's start plus ``readyTimeout`` (readyTimeout);
- to Failed: from there to ``status.history[0].finishedAt`` (when the
  operator decided Failed). Goal: within 5 s.
- seen: from the moment this program's watch first saw the evidence to the
  same Failed (both on this machine's clock; Kubernetes' own timestamps are
  whole seconds, truncated, so "to Failed" may read up to 1 s high).

``--exact-namespace`` runs the operator for the rollout's namespace only, not
its shadow namespaces (as with ``shakedown run -n infra``): then kopf sees no
shadow pod, and only the rollout's own watch of the shadow wakes it.

Run: ``.venv/bin/python bench/failfast_bench.py [--json FILE] [--exact-namespace]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client

from benchkit import clean_up, cluster_and_image, wait
from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.watching import Follow
from shakedown.adapters.workloads import Kube, apply_object
from shakedown.demo import operator_process
from shakedown.demo.infrarollout import sample_workload
from shakedown.planning.infrarollout.objects import parse_time
from shakedown.planning.infrarollout.shadow import shadow_namespace_name

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 5.0
READY_TIMEOUT = 8


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- cases
def _container(**fields: Any) -> dict[str, Any]:
    pod = fields.pop("pod", {})
    return {
        "target": {"kind": "Deployment", "name": "web"},
        "type": "strategic",
        "patch": {
            "spec": {"template": {"spec": {**pod, "containers": [{"name": "web", **fields}]}}}
        },
    }


def _cases(registry: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """case -> (spec.change, spec.smokeTests)."""
    missing = f"{registry}/shakedown/missing-{secrets.token_hex(3)}:1"
    return {
        "crash-loop": ({"patches": [_container(command=["sh", "-c", "exit 3"])]}, {}),
        "bad-image": ({"images": [{"container": "web", "image": missing}]}, {}),
        "unschedulable": (
            {"patches": [_container(pod={"nodeSelector": {"shakedown.dev/no-such": "node"}})]},
            {},
        ),
        "ready-then-notready": (
            {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "patch": {"data": {"MESSAGE": "v2", "FAIL_AFTER": "4"}},
                    }
                ]
            },
            {"readyFor": "60s"},
        ),
        "ready-timeout": (
            {"patches": [_container(readinessProbe={"httpGet": {"path": "/never", "port": 8080}})]},
            {"readyTimeout": f"{READY_TIMEOUT}s"},
        ),
    }


# --------------------------------------------------------------------------- observation
@dataclass
class Seen:
    """Every object version this program's watches received, with local receive times."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    items: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, what: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.items.append((time.time(), what, obj))

    def of(self, what: str) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, o) for t, w, o in self.items if w == what]


@contextmanager
def watching(api: client.ApiClient, namespace: str, shadow: str, name: str) -> Iterator[Seen]:
    seen = Seen()
    conn = kubeclient.connection(api)
    follows = {
        "pod": Follow(conn, f"/api/v1/namespaces/{shadow}/pods"),
        "event": Follow(conn, f"/api/v1/namespaces/{shadow}/events"),
        "iro": Follow(
            conn,
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/infrarollouts",
            {"fieldSelector": f"metadata.name={name}"},
        ),
    }

    def run(what: str, follow: Follow) -> None:
        while not follow.stopped:
            try:
                for _, obj in follow.events():
                    seen.add(what, obj)
            except Exception:  # reconnect
                follow.pause(0.5)

    for what, follow in follows.items():
        threading.Thread(target=run, args=(what, follow), daemon=True).start()
    try:
        yield seen
    finally:
        for follow in follows.values():
            follow.stop()


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def _condition(pod: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def evidence(case: str, seen: Seen) -> tuple[datetime | None, float | None]:
    """(cluster time of the evidence, local time this program first saw it)."""
    pods = seen.of("pod")
    if case == "crash-loop":
        for t, pod in pods:
            for status in _statuses(pod):
                for state in (status.get("state") or {}, status.get("lastState") or {}):
                    done = state.get("terminated") or {}
                    if done.get("exitCode") not in (None, 0):
                        return parse_time(done.get("finishedAt")), t
    if case == "bad-image":
        for t, event in seen.of("event"):
            if event.get("reason") == "Failed" and "pull" in str(event.get("message")):
                when = event.get("firstTimestamp") or event.get("eventTime")
                return parse_time(when), t
    if case == "unschedulable":
        for t, pod in pods:
            cond = _condition(pod, "PodScheduled")
            if cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
                return parse_time(cond.get("lastTransitionTime")), t
    if case == "ready-then-notready":
        was_ready: set[str] = set()
        for t, pod in pods:
            name = pod["metadata"]["name"]
            cond = _condition(pod, "Ready")
            if cond.get("status") == "True":
                was_ready.add(name)
            elif name in was_ready and cond.get("status") == "False":
                return parse_time(cond.get("lastTransitionTime")), t
    if case == "ready-timeout":
        for _, obj in seen.of("iro"):
            status = obj.get("status") or {}
            started = parse_time(status.get("phaseStartedAt"))
            if status.get("phase") == "SmokeTesting" and started is not None:
                deadline = started + timedelta(seconds=READY_TIMEOUT)
                return deadline, deadline.timestamp()
    return None, None


def failed_at(seen: Seen) -> tuple[dict[str, Any], datetime | None]:
    for _, obj in reversed(seen.of("iro")):
        status = obj.get("status") or {}
        if status.get("phase") in ("Failed", "Validated", "Aborted"):
            history = status.get("history") or [{}]
            return status, parse_time(history[0].get("finishedAt"))
    return {}, None


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument(
        "--exact-namespace",
        action="store_true",
        help="the operator watches the namespace only, not its shadows",
    )
    args = parser.parse_args()

    kubeconfig, image = cluster_and_image(say)
    registry = image.split("/", 1)[0]
    api = kubeclient.client_for(kubeconfig)
    from shakedown.adapters.crds import install

    install(api)
    kube = Kube(kubeclient.connection(api))
    namespace = f"bench-ff-{secrets.token_hex(2)}"
    kube.create("Namespace", None, {"metadata": {"name": namespace}})
    cases = _cases(registry)
    chosen = args.case or list(cases)
    results: dict[str, Any] = {}
    try:
        for obj in sample_workload("web", image, replicas=1):
            apply_object(kube, namespace, obj)
        wait(
            lambda: (
                (kube.get("Deployment", namespace, "web") or {})
                .get("status", {})
                .get("readyReplicas")
            ),
            120,
        )
        log = REPO / ".shakedown" / f"bench-operator-{namespace}.log"
        with operator_process(kubeconfig, namespace, log, shadows=not args.exact_namespace):
            for index, case in enumerate(chosen):
                change, smoke = cases[case]
                name = f"ff{index}-{case}"[:40]
                shadow = shadow_namespace_name(namespace, name, 1)
                spec = {
                    "targets": [
                        {"kind": "Deployment", "name": "web"},
                        {"kind": "ConfigMap", "name": "web-config"},
                    ],
                    "change": change,
                    "shadow": {"ttl": "15m", "replicas": 1},
                    "smokeTests": {"readyFor": "30s", **smoke},
                    "timeout": "10m",
                    "promote": False,
                }
                with watching(api, namespace, shadow, name) as seen:
                    kube.create(
                        "InfraRollout",
                        namespace,
                        {
                            "apiVersion": f"{GROUP}/{VERSION}",
                            "kind": "InfraRollout",
                            "metadata": {"name": name},
                            "spec": spec,
                        },
                    )
                    wait(lambda: failed_at(seen)[1], 300)
                    status, failed = failed_at(seen)
                    when, first_seen = evidence(case, seen)
                assert failed is not None
                row: dict[str, Any] = {
                    "phase": status.get("phase"),
                    "reason": status.get("failureReason"),
                    "evidence_at": when.isoformat() if when else None,
                    "to_failed_s": round((failed - when).total_seconds(), 2) if when else None,
                    "seen_to_failed_s": (
                        round(failed.timestamp() - first_seen, 2) if first_seen else None
                    ),
                    "message": str(status.get("message"))[:160],
                }
                results[case] = row
                say(
                    f"{case:<20} {row['phase']:<9} {row['reason'] or '-':<14}"
                    f" evidence {when:%H:%M:%S} -> Failed {failed:%H:%M:%S.%f}"
                    f"  to Failed {row['to_failed_s']} s (seen {row['seen_to_failed_s']} s)"
                    if when
                    else f"{case:<20} {row['phase']} {row['reason']}: no evidence observed"
                )
                kube.delete("InfraRollout", namespace, name)

                def gone(rollout: str = name) -> bool:
                    return kube.get("InfraRollout", namespace, rollout) is None

                wait(gone, 120)
    finally:
        clean_up(kube, namespace)  # the operator is gone by now
    worst = max((r["to_failed_s"] or 0.0) for r in results.values()) if results else 0.0
    say(json.dumps(results, indent=2))
    say(
        f"slowest: {worst} s from evidence to Failed:"
        f" {'meets' if worst <= GOAL_SECONDS else 'misses'} the {GOAL_SECONDS:.0f} s goal"
        f" (measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
