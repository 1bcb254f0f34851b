"""Failover benchmark: seconds from SIGKILL of the leading replica to the standby acting.

Two ``shakedown run --leader-election`` processes (as the Deployment runs them,
default timings: Lease 10 s, renewed every 2 s, given up after 8 s without a
renewal) share one Lease on a real cluster (the local one unless KUBECONFIG is
set) and watch one namespace with an InfraRollout in it. Each round kills the
leader with SIGKILL at a random point of its renewal period, then measures:

- lease: until the standby holds the Lease (its holderIdentity, polled every 50 ms);
- acting: until the standby's kopf has started and handles the InfraRollout
  (its first log line about it).

The killed one is started again and stands by for the next round. Goal (issue
11): under 15 s. The numbers depend on where in the renewal period the kill
lands: the standby takes over one Lease duration after the last renewal it saw,
so lease ≈ 10 s minus up to one renewal period.

Run: ``.venv/bin/python bench/failover.py [--kills N] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client

from benchkit import clean_up, wait
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube
from shakedown.localcluster import procs

LEASE_NAMESPACE = "default"


class Replica:
    """One ``shakedown run --leader-election`` child process and its log."""

    def __init__(self, namespace: str, lease: str, log_dir: Path, index: int) -> None:
        self.namespace, self.lease, self.log_dir, self.index = namespace, lease, log_dir, index
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"replica-{index}.log"
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"replica-{self.index}-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shakedown",
                    "run",
                    "--namespace",
                    f"{self.namespace}*",
                    "--metrics-port",
                    "0",
                    "--leader-election",
                    f"--leader-election-namespace={LEASE_NAMESPACE}",
                    f"--leader-election-name={self.lease}",
                    "--verbose",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def identity_prefix(self) -> str:
        assert self.proc is not None
        return f"_{self.proc.pid}_"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            procs.terminate(self.proc)


def holder(kube: Kube, lease: str) -> str:
    obj = kube.get("Lease", LEASE_NAMESPACE, lease) or {}
    return str((obj.get("spec") or {}).get("holderIdentity") or "")


def leader_of(kube: Kube, lease: str, replicas: list[Replica]) -> Replica | None:
    name = holder(kube, lease)
    return next((r for r in replicas if r.proc and r.identity_prefix() in name), None)


def taken_from(kube: Kube, lease: str, old: str) -> bool:
    return holder(kube, lease) not in ("", old)


def standing_by(replica: Replica) -> bool:
    return "standing by" in replica.log()


def acting(replica: Replica, namespace: str) -> bool:
    """Whether ``replica`` leads and a handler of its kopf has run for the rollout."""
    log = replica.log()
    start = log.find("leading: holding Lease")
    return start >= 0 and handled(log[start:], namespace, "idle")


def handled(log: str, namespace: str, name: str) -> bool:
    return any(
        f"{namespace}/{name}" in line or ("kopf.objects" in line and f"'{namespace}'" in line)
        for line in log.splitlines()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    kubeclient.load()
    kube = Kube(kubeclient.connection(client.ApiClient()))
    tag = secrets.token_hex(3)
    namespace, lease = f"failover-{tag}", f"failover-{tag}"
    kube.create("Namespace", None, {"metadata": {"name": namespace}})
    # Something to handle: an InfraRollout whose target does not exist.
    kube.create(
        "InfraRollout",
        namespace,
        {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "InfraRollout",
            "metadata": {"name": "idle"},
            "spec": {
                "targets": [{"kind": "Deployment", "name": "absent"}],
                "change": {
                    "patches": [
                        {
                            "target": {"kind": "Deployment", "name": "absent"},
                            "type": "merge",
                            "patch": {"metadata": {"labels": {"bench": "failover"}}},
                        }
                    ]
                },
            },
        },
    )
    log_dir = Path(f"/tmp/shakedown-failover-{tag}")
    log_dir.mkdir(parents=True, exist_ok=True)
    replicas = [Replica(namespace, lease, log_dir, i) for i in range(2)]
    rounds: list[dict[str, float]] = []
    try:
        for replica in replicas:
            replica.start()
        for round_ in range(1, args.kills + 1):
            leader = wait(partial(leader_of, kube, lease, replicas), 120)
            (standby,) = [r for r in replicas if r is not leader]
            wait(partial(acting, leader, namespace), 120)
            wait(partial(standing_by, standby), 120)
            time.sleep(random.uniform(2.0, 4.0))  # land anywhere in the renewal period
            old = holder(kube, lease)
            killed = time.monotonic()
            leader.kill()
            wait(partial(taken_from, kube, lease, old), 60)
            took_lease = time.monotonic() - killed
            wait(partial(acting, standby, namespace), 60)
            took_acting = time.monotonic() - killed
            rounds.append({"lease": took_lease, "acting": took_acting})
            print(f"kill {round_}: lease {took_lease:.1f}s, acting {took_acting:.1f}s", flush=True)
            leader.start()
    finally:
        for replica in replicas:
            replica.stop()
        clean_up(kube, namespace)
        kube.delete("Lease", LEASE_NAMESPACE, lease)
    summary: dict[str, Any] = {"kills": len(rounds), "rounds": rounds}
    for key in ("lease", "acting"):
        values = [r[key] for r in rounds]
        summary[key] = {
            "min": min(values),
            "median": statistics.median(values),
            "max": max(values),
        }
        print(
            f"{key:>7}: min {min(values):.1f}s  median {statistics.median(values):.1f}s"
            f"  max {max(values):.1f}s  (goal < 15 s)"
        )
    print(f"logs in {log_dir}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
