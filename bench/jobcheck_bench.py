"""Requests one Job check makes while its Job runs: polled every second, or woken by a watch.

A Job check (``checks.job``) waits for a Job that sleeps ``--seconds`` on a
real cluster (the local one unless KUBECONFIG is set), twice:

- poll: no watch and a 1 s poll (``POLL_SECONDS = 1.0``), which is exactly the
  loop the check had before it watched;
- watch: the shared watch of check Jobs (``adapters.jobwatch``), as the operator runs it.

It prints the requests each made to the API server from the Job's creation
to the check's outcome, by kind: GETs of the Job, lists, watches, other.

Run: ``SHAKEDOWN_STATE=... .venv/bin/python bench/jobcheck_bench.py [--seconds 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from benchkit import clean_up, cluster_and_image
from shakedown.adapters import apiserver
from shakedown.adapters.apiserver import Connection, Stream
from shakedown.adapters.workloads import Kube
from shakedown.checks import job as job_check
from shakedown.checks.base import CheckContext
from shakedown.checks.job import JobCheck


def counting(conn: Connection, seen: Counter[str], job: str) -> None:
    """Count what passes through ``conn`` (its calls and watches), by kind of request."""
    call, stream = conn.call, conn.stream

    def counted_call(method: str, path: str, **options: Any) -> Any:
        query = options.get("query") or {}
        if method == "GET" and path.endswith(f"/jobs/{job}"):
            seen["GET the Job"] += 1
        elif method == "GET" and "labelSelector" in query:
            seen["list"] += 1
        else:
            seen[f"{method} other"] += 1
        return call(method, path, **options)

    def counted_stream(path: str, query: Mapping[str, str], *, timeout: float = 330) -> Stream:
        seen["watch"] += 1
        return stream(path, query, timeout=timeout)

    conn.call = counted_call  # type: ignore[method-assign]
    conn.stream = counted_stream  # type: ignore[method-assign]


async def one(kube: Kube, namespace: str, image: str, seconds: int, watch: bool) -> float:
    ctx = CheckContext(
        kube=kube,
        namespace=namespace,
        rollout="bench",
        revision=1 if watch else 2,
        image=image,
        job_news=kube.job_news if watch else None,
    )
    spec = {"name": "sleep", "command": ["sh", "-c", f"sleep {seconds}"], "timeout": "5m"}
    started = time.monotonic()
    outcome = await JobCheck().run(ctx, spec)
    if not outcome.passed:
        raise SystemExit(f"the Job check failed: {outcome.message}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="Requests one Job check makes while it waits.")
    parser.add_argument("--seconds", type=int, default=30, help="how long the Job sleeps")
    args = parser.parse_args()
    kubeconfig, image = cluster_and_image(print)
    setup = Kube(apiserver.connect(kubeconfig))
    namespace = f"bench-jobcheck-{secrets.token_hex(3)}"
    setup.create("Namespace", None, {"metadata": {"name": namespace}})
    rows = []
    try:
        for watch in (False, True):
            seen: Counter[str] = Counter()
            conn = apiserver.connect(kubeconfig)
            job = f"shakedown-job-sleep-r{1 if watch else 2}"
            counting(conn, seen, job)
            job_check.POLL_SECONDS = 5.0 if watch else 1.0
            took = asyncio.run(one(Kube(conn), namespace, image, args.seconds, watch))
            conn.close()
            rows.append(("watch" if watch else "poll (1 s)", took, seen))
    finally:
        clean_up(setup, namespace)
    print(f"one Job check, its Job sleeping {args.seconds} s:")
    for label, took, seen in rows:
        total = sum(seen.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(seen.items()))
        print(f"  {label:11} {took:5.1f} s to passed, {total:3} requests ({kinds})")


if __name__ == "__main__":
    main()
