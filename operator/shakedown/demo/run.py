"""``make demo``'s driver: the cluster, the CRDs, the operator process, the scenes, the timeline.

The demo uses the cluster KUBECONFIG names, or starts the local one
(``shakedown.localcluster``) and leaves it running for you to explore. It
installs the CRDs, starts the operator as a subprocess (log kept under
``.shakedown/demo/``), plays its scenes in a namespace of its own, prints a
timeline of what happened (conditions and Events) and stops the operator.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiException
from shakedown.demo.stage import NAMESPACE, REPO, STATE, Context, Timeline, load_scenes, say
from shakedown.localcluster import procs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _cluster() -> Iterator[tuple[Path, str | None]]:
    """(kubeconfig, registry): KUBECONFIG's cluster, or the local one (left running)."""
    if os.environ.get("KUBECONFIG"):
        yield Path(os.environ["KUBECONFIG"]), os.environ.get("REGISTRY")
        return
    from shakedown.localcluster import cluster
    from shakedown.localcluster.layout import Layout

    layout = Layout.default()
    say("starting the local cluster (first time: builds Kubernetes from source; cached after)")
    cluster.acquire(layout, say=lambda m: say(f"  {m}"))
    try:
        yield layout.kubeconfig, layout.network.registry
    finally:
        cluster.release(layout, stop=False, say=lambda m: None)
        say("the local cluster keeps running: `make cluster-down` stops it")


@contextlib.contextmanager
def operator_process(
    kubeconfig: Path, namespace: str, log_path: Path, *, shadows: bool = True
) -> Iterator[int]:
    """Run ``shakedown run`` for one namespace (and, with ``shadows``, its shadow
    namespaces) as a child process; the demo and the benchmarks share it so both measure
    the operator as users start it. Without ``shadows`` kopf watches the namespace only."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shakedown",
                "run",
                "--namespace",
                f"{namespace}*" if shadows else namespace,  # with its shadow namespaces
                "--metrics-port",
                str(_free_port()),
                "--metrics-address",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield proc.pid
    finally:
        procs.terminate(proc)


def _ensure_namespace(api: Any, name: str) -> None:
    core = kubeclient.core(api)
    try:
        core.read_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespace(
            {"metadata": {"name": name, "labels": {"shakedown.dev/demo": "true"}}}
        )


def _clear_namespace(api: Any, name: str, *, timeout: float = 90) -> None:
    """Delete what an earlier demo left (the running operator finalizes it), keep the namespace.

    Objects still there after ``timeout`` lose their finalizers, so the demo can go on.
    """
    custom = kubeclient.custom(api)
    plurals = ("containerimagerefreshes", "infrarollouts")

    def remaining() -> list[tuple[str, str]]:
        return [
            (plural, obj["metadata"]["name"])
            for plural in plurals
            for obj in custom.list_namespaced_custom_object(GROUP, VERSION, name, plural)["items"]
        ]

    left = remaining()
    if not left:
        return
    say(f"clearing {len(left)} object(s) an earlier demo left in {name}")
    for plural, obj_name in left:
        with contextlib.suppress(ApiException):
            custom.delete_namespaced_custom_object(GROUP, VERSION, name, plural, obj_name)
    deadline = time.monotonic() + timeout
    while remaining() and time.monotonic() < deadline:
        time.sleep(1)
    for plural, obj_name in remaining():
        with contextlib.suppress(ApiException):
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, name, plural, obj_name, {"metadata": {"finalizers": None}}
            )
    kubeclient.core(api).delete_collection_namespaced_event(name)


def _print_timeline(api: Any, namespace: str, since: datetime) -> None:
    core = kubeclient.core(api)
    events = core.list_namespaced_event(namespace).items
    rows = []
    for event in events:
        when = event.last_timestamp or event.event_time or event.first_timestamp
        if when is None or when < since:
            continue
        if not (event.involved_object.api_version or "").startswith(f"{GROUP}/"):
            continue  # pods and ReplicaSets: `kubectl get events` has them all
        obj = f"{event.involved_object.kind.lower()}/{event.involved_object.name}"
        rows.append((when, event.type, event.reason, obj, event.message or ""))
    say(f"\nTimeline of shakedown's Events (all of them: kubectl get events -n {namespace}):")
    for when, kind, reason, obj, message in sorted(rows, key=lambda r: r[0]):
        offset = (when - since).total_seconds()
        say(f"  +{offset:5.0f}s  {kind:<7}  {reason:<16}  {obj:<40}  {message[:120]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shakedown.demo", description=__doc__)
    parser.add_argument("--scene", action="append", help="play only these scenes (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the scenes and exit")
    parser.add_argument("--namespace", default=NAMESPACE, help=f"namespace (default {NAMESPACE})")
    args = parser.parse_args(argv)

    scenes = load_scenes()
    if args.list:
        for item in scenes.values():
            say(f"{item.name:<14} {item.title}")
        return 0
    unknown = set(args.scene or ()) - set(scenes)
    if unknown:
        say(f"shakedown demo: unknown scene(s) {', '.join(sorted(unknown))}; see --list")
        return 2
    chosen = [scenes[name] for name in args.scene] if args.scene else list(scenes.values())

    from shakedown.adapters import crds

    try:
        with _cluster() as (kubeconfig, registry):
            api = kubeclient.client_for(kubeconfig)
            say(f"cluster: {api.configuration.host}")
            names = crds.install(api)
            say(f"CRDs installed: {', '.join(names)}")
            _ensure_namespace(api, args.namespace)
            log_path = STATE / f"operator-{secrets.token_hex(2)}.log"
            with operator_process(kubeconfig, args.namespace, log_path) as pid:
                say(f"operator started (pid {pid}, log {log_path.relative_to(REPO)})")
                _clear_namespace(api, args.namespace)
                since = datetime.now(UTC).replace(microsecond=0)
                timeline = Timeline()
                ctx = Context(
                    api=api,
                    namespace=args.namespace,
                    kubeconfig=kubeconfig,
                    registry=registry,
                    operator_log=log_path,
                    timeline=timeline,
                )
                failed = []
                for item in chosen:
                    say(f"\n== {item.name}: {item.title}")
                    try:
                        item.play(ctx)
                    except Exception as exc:  # a scene failing must not hide the others
                        failed.append(item.name)
                        timeline.note(f"scene {item.name} failed: {type(exc).__name__}: {exc}")
            _print_timeline(api, args.namespace, since)
            say(
                f"\nObjects stay in namespace {args.namespace}: "
                f"shakedown get cir -n {args.namespace}"
            )
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        say(f"shakedown demo: {type(exc).__name__}: {exc}")
        return 1
    if failed:
        say(f"scenes failed: {', '.join(failed)} (operator log: {log_path})")
        return 1
    return 0
