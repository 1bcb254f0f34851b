"""ContainerImageRefresh benchmark: one refresh run vs the same steps by hand.

Side by side, on a real cluster (the local one unless KUBECONFIG and REGISTRY
are set) and the same registry, for ``--rounds`` rounds:

- shakedown: set ``shakedown.dev/run-requested`` and wait until status shows
  the run finished (build Job with buildah, two test Jobs on the candidate
  digest, tag moved). The clock runs from the annotation write to the moment
  this program reads the finished run from status (polling every 0.2 s).
- by hand: on this host, with the same Containerfile and the same buildah
  settings as the build pod (vfs storage in a fresh directory, chroot
  isolation): ``buildah bud``, ``buildah push --digestfile`` under a
  candidate tag, then each test command in a container of that digest
  (``buildah from`` + ``buildah run``; both tests at once, which favours the
  baseline) and a retag (``buildah push`` to the consumer tag).

The workload: an image FROM the local busybox with a RUN step that computes
for about ``--work`` seconds, and two tests (one sleeps 2 x ``--work`` s).
Running a pod costs a roughly fixed second or two (scheduling, sandbox,
kubelet noticing the exit) per stage, so the ratio depends on how long the
real work takes: report it for the tiny default and for a larger ``--work``.
Reported: each round's two wall times, the ratio shakedown / by hand, and the
median ratio against the goal (within 15%, i.e. ratio <= 1.15).

Run: ``.venv/bin/python bench/imagerefresh_bench.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from shakedown.adapters import kubeclient
from shakedown.adapters.builder import BUILDER_IMAGE_ENV
from shakedown.demo import operator_process
from shakedown.localcluster.builder_image import build_builder_image

GROUP, VERSION, PLURAL = "shakedown.dev", "v1alpha1", "containerimagerefreshes"
GOAL = 1.15


def tests(work: int) -> list[tuple[str, str]]:
    return [
        ("count", f"sleep {2 * work}; cat /count"),
        ("check", f"grep -q {200000 * work} /count && echo ok"),
    ]


def containerfile(registry: str, work: int) -> str:
    return (
        f"FROM {registry}/shakedown/busybox:latest\n"
        f"RUN i=0; while [ $i -lt {200000 * work} ]; do i=$((i+1)); done; echo $i > /count\n"
        "COPY notes.txt /notes.txt\n"
    )


def _cluster() -> tuple[Path, str]:
    if os.environ.get("KUBECONFIG"):
        registry = os.environ.get("REGISTRY")
        if not registry:
            sys.exit("set REGISTRY=host:port of a registry the cluster pulls from")
        return Path(os.environ["KUBECONFIG"]), registry
    from shakedown.localcluster import cluster
    from shakedown.localcluster.layout import Layout

    layout = Layout.default()
    cluster.acquire(layout, say=lambda m: print(f"  {m}", flush=True))
    return layout.kubeconfig, layout.network.registry


def _buildah(store: Path, *args: str) -> str:
    cmd = [
        "buildah",
        "--storage-driver=vfs",
        f"--root={store / 'root'}",
        f"--runroot={store / 'run'}",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}...: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def by_hand(registry: str, repository: str, context: Path, round_no: int, work: int) -> float:
    """The manual steps; wall seconds."""
    image = f"{registry}/{repository}"
    store = Path(tempfile.mkdtemp(prefix="sd-bench-"))
    try:
        started = time.monotonic()
        _buildah(
            store,
            "bud",
            "--isolation=chroot",
            "--layers=false",
            "--tls-verify=false",
            "-f",
            str(context / "Containerfile"),
            "-t",
            "localhost/bench",
            str(context),
        )
        digest_file = store / "digest"
        _buildah(
            store,
            "push",
            "--tls-verify=false",
            f"--digestfile={digest_file}",
            "localhost/bench",
            f"docker://{image}:manual-{round_no}",
        )
        digest = digest_file.read_text().strip()
        procs = []
        for name, command in tests(work):
            ctr = _buildah(
                store,
                "from",
                "--tls-verify=false",
                "--name",
                f"bench-{name}",
                f"docker://{image}@{digest}",
            ).strip()
            procs.append(
                subprocess.Popen(
                    [
                        "buildah",
                        "--storage-driver=vfs",
                        f"--root={store / 'root'}",
                        f"--runroot={store / 'run'}",
                        "run",
                        "--isolation=chroot",
                        ctr,
                        "--",
                        "/bin/sh",
                        "-c",
                        command,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"manual test failed: {err.decode()[-300:]}")
        _buildah(store, "push", "--tls-verify=false", "localhost/bench", f"docker://{image}:manual")
        return time.monotonic() - started
    finally:
        with contextlib.suppress(Exception):
            _buildah(store, "rm", "--all")
        subprocess.run(["umount", "-R", str(store)], capture_output=True, check=False)
        shutil.rmtree(store, ignore_errors=True)


def with_shakedown(custom: Any, namespace: str, name: str, run_id: str) -> float:
    """Request a run and wait for it to finish; wall seconds."""
    started = time.monotonic()
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"metadata": {"annotations": {f"{GROUP}/run-requested": f"bench-{run_id}"}}},
    )
    deadline = started + 600
    while time.monotonic() < deadline:
        status = (
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get(
                "status"
            )
            or {}
        )
        last = status.get("lastRun") or {}
        if last.get("id") == run_id and last.get("finishedAt"):
            elapsed = time.monotonic() - started
            if last.get("phase") != "Succeeded":
                raise RuntimeError(f"run {run_id} ended {last.get('phase')}: {last.get('message')}")
            parts = []
            for phase in last.get("phases") or []:
                begin = datetime.fromisoformat(phase["startedAt"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(phase["finishedAt"].replace("Z", "+00:00"))
                parts.append(f"{phase['name']} {(end - begin).total_seconds():.0f}s")
            print(f"  run {run_id} phases (whole seconds): {', '.join(parts)}", flush=True)
            return elapsed
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not finish")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--work",
        type=int,
        default=1,
        help="scale of the workload: RUN loop of 200000*N steps (~N s), a test sleeping 2*N s",
    )
    args = parser.parse_args(argv)

    kubeconfig, registry = _cluster()
    os.environ.setdefault(BUILDER_IMAGE_ENV, f"{registry}/shakedown/builder:latest")
    if not os.environ.get("KUBECONFIG"):
        build_builder_image()
    api = kubeclient.client_for(kubeconfig)
    from shakedown.adapters import crds

    crds.install(api)
    core = kubeclient.core(api)
    custom = kubeclient.custom(api)
    namespace = f"sdbench-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": namespace}})
    context = Path(tempfile.mkdtemp(prefix="sd-bench-ctx-"))
    files = {"Containerfile": containerfile(registry, args.work), "notes.txt": "benchmark\n"}
    for key, value in files.items():
        (context / key).write_text(value)
    log = Path(tempfile.gettempdir()) / f"{namespace}-operator.log"
    try:
        while not core.list_namespaced_service_account(namespace).items:
            time.sleep(0.2)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "ctx"}, "data": files})
        with operator_process(kubeconfig, namespace, log):
            custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "ContainerImageRefresh",
                    "metadata": {"name": "bench"},
                    "spec": {
                        "image": f"{registry}/{namespace}/bench",
                        "insecureRegistry": True,
                        "source": {"configMap": {"name": "ctx"}},
                        "tests": [
                            {"name": n, "command": ["/bin/sh", "-c", c], "timeout": "2m"}
                            for n, c in tests(args.work)
                        ],
                    },
                },
            )
            print("warm-up: run 1 (created) and one manual round", flush=True)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                st = (
                    custom.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, "bench"
                    ).get("status")
                    or {}
                )
                if (st.get("lastRun") or {}).get("finishedAt"):
                    break
                time.sleep(0.5)
            by_hand(registry, f"{namespace}/manual", context, 0, args.work)
            rows = []
            for index in range(args.rounds):
                manual = by_hand(registry, f"{namespace}/manual", context, index + 1, args.work)
                operator = with_shakedown(custom, namespace, "bench", str(index + 2))
                rows.append((operator, manual))
                print(
                    f"round {index + 1}: shakedown {operator:6.1f}s   by hand {manual:6.1f}s   "
                    f"ratio {operator / manual:5.2f}",
                    flush=True,
                )
            # Delete while the operator runs, so it removes its finalizer.
            custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "bench")
            deadline = time.monotonic() + 60
            while (
                time.monotonic() < deadline
                and custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
            ):
                time.sleep(0.5)
        ratios = [o / m for o, m in rows]
        median = statistics.median(ratios)
        print(
            f"\nmedian: shakedown {statistics.median(o for o, _ in rows):.1f}s, "
            f"by hand {statistics.median(m for _, m in rows):.1f}s, ratio {median:.2f} "
            f"({'within' if median <= GOAL else 'NOT within'} the 15% goal)"
        )
        return 0
    finally:
        core.delete_namespace(namespace, propagation_policy="Background")
        shutil.rmtree(context, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
