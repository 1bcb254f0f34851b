"""``shakedown selftest``: does this build reconcile? Proven against the cluster, in a minute.

A build can start, answer its probes and stand by as a replica, and still
never reconcile anything: nothing a readiness probe sees. The selftest runs
the operator of this very installation in-process, as a throwaway instance
(``instances``: a fresh random instance id, one namespace), creates a probe
object only that instance handles (a suspended ContainerImageRefresh: no
build, no pod, no registry call), and waits until the operator has written
its status for the probe's generation. The probe is deleted whatever happens.
Exit 0 with one line when it was reconciled, 1 naming what did not happen.

An InfraRollout runs it as a ``rollback.jobs`` check in the candidate image,
in production, while an old replica still leads (README, "Dogfooding").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.api import instances
from shakedown.api.imagerefresh import meta as imagerefresh_meta
from shakedown.cli.commands import add_command
from shakedown.cli.kube import add_namespace
from shakedown.cli.main import UserError
from shakedown.presentation.reading import observed

PLURAL = imagerefresh_meta.NAMES.plural
#: Seconds the stopping operator gets before it is cancelled.
STOP_TIMEOUT = 15.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "selftest")
    add_namespace(
        parser, help="where the probe goes (default: the pod's namespace, else the kubeconfig's)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up after this long (default 60)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the operator's log")
    parser.set_defaults(func=run)


def probe_manifest(name: str, instance: str) -> dict[str, Any]:
    """A probe only ``instance`` handles, that needs nothing but a status write."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": imagerefresh_meta.NAMES.kind,
        "metadata": {
            "name": name,
            "labels": {instances.LABEL: instance, "app.kubernetes.io/component": "selftest"},
        },
        "spec": {
            "image": "selftest.invalid/shakedown/selftest",
            "source": {"configMap": {"name": name}},
            "triggers": {"source": False, "baseImage": False},
            "tests": [{"name": "none", "command": ["true"]}],
            "promote": False,
            "suspend": True,
        },
    }


def reconciled(obj: Mapping[str, Any] | None) -> bool:
    """Whether the operator wrote the status of the object's current generation."""
    return obj is not None and "generation" in (obj.get("metadata") or {}) and observed(obj)


def run(args: argparse.Namespace) -> int:
    from shakedown.adapters import kubeclient

    if args.timeout <= 0:
        raise UserError(f"--timeout {args.timeout}: must be more than 0 seconds")
    try:
        kubeclient.load()
    except kubeclient.NoCluster as exc:
        raise UserError(str(exc)) from None
    from shakedown import outbound

    outbound.configure(os.environ.get(outbound.ALLOW_ENV, ""), [kubeclient.server_url()])
    from shakedown.cli.run import ensure_user_name

    ensure_user_name()  # kopf names its identity after the user; a bare UID has none
    namespace = args.namespace or _namespace()
    instance = f"selftest-{secrets.token_hex(4)}"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"selftest [{time.monotonic() - started:5.1f}s] {message}", flush=True)

    try:
        failure = asyncio.run(_selftest(namespace, instance, args.timeout, say))
    except Exception as exc:  # a check reports, it does not crash: the cause in one line
        failure = f"{type(exc).__name__}: {exc}"
    if failure is None:
        print(f"selftest passed: the operator reconciled its probe in {namespace}", flush=True)
        return 0
    print(f"selftest FAILED: {failure}", file=sys.stderr, flush=True)
    return 1


def _namespace() -> str:
    from shakedown.adapters import kubeclient
    from shakedown.cli.run import pod_namespace

    return pod_namespace() or kubeclient.current_namespace()


async def _selftest(
    namespace: str, instance: str, timeout: float, say: Callable[[str], None]
) -> str | None:
    """None when the operator reconciled the probe within ``timeout``, else what did not happen."""
    import kopf

    import shakedown.handlers  # noqa: F401  (registers the handlers)
    from shakedown.adapters import kubeclient
    from shakedown.adapters.kubeclient import ApiException
    from shakedown.cli.run import operator_memo

    custom = kubeclient.custom()
    name = f"shakedown-{instance}"
    deadline = time.monotonic() + timeout
    stop, ready = asyncio.Event(), asyncio.Event()
    say(f"starting the operator as instance {instance}, watching {namespace}")
    operator = asyncio.create_task(
        kopf.operator(
            namespaces=[namespace],
            standalone=True,
            memo=operator_memo(instance),
            stop_flag=stop,
            ready_flag=ready,
        )
    )
    created = False
    try:
        if not await _until(lambda: ready.is_set(), operator, deadline):
            return _why(operator, f"the operator did not start within {timeout:.0f}s")
        say("the operator runs")
        try:
            await asyncio.to_thread(
                custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                probe_manifest(name, instance),
            )
        except ApiException as exc:
            return f"cannot create the probe {PLURAL}/{name} in {namespace}: {_reason(exc)}"
        created = True
        say(f"probe ContainerImageRefresh {name} created")
        while True:
            try:
                latest = await asyncio.to_thread(
                    custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
                )
            except ApiException as exc:
                return f"cannot read the probe {name}: {_reason(exc)}"
            if reconciled(latest):
                break
            if operator.done():
                return _why(operator, "the operator stopped before it reconciled the probe")
            if time.monotonic() > deadline:
                return (
                    f"the operator did not reconcile the probe {name} within {timeout:.0f}s "
                    "(no status.observedGeneration written)"
                )
            await asyncio.sleep(0.5)
        seen = latest["status"]["observedGeneration"]
        say(f"probe reconciled (status.observedGeneration {seen})")
        return None
    finally:
        if created:
            with contextlib.suppress(ApiException):
                await asyncio.to_thread(
                    custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
                )
                say(f"probe {name} deleted")
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(operator, STOP_TIMEOUT)
        say("the operator stopped")


async def _until(check: Callable[[], bool], operator: asyncio.Task[Any], deadline: float) -> bool:
    """Poll ``check`` until it holds (True), the operator ends or the deadline passes (False)."""
    while not check():
        if operator.done() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def _why(operator: asyncio.Task[Any], what: str) -> str:
    if operator.done() and not operator.cancelled() and operator.exception() is not None:
        exc = operator.exception()
        return f"{what}: {type(exc).__name__}: {exc}"
    return what


def _reason(exc: Any) -> str:
    return f"{exc.status} {exc.reason}"
