"""``shakedown logs``: the build and test logs of a run, and of a rollout's Job check.

The operator labels every Job of a ContainerImageRefresh run (resource, run,
step, scenario; see ``shakedown.adapters.jobs``), so the pods of a run are one
label selector away. A smoke Job check of an InfraRollout runs in the shadow
namespace, its Job named in ``status.checks``. Pods do not live forever (Jobs
are cleaned up, the shadow namespace is deleted); then the tail the operator
kept in status is printed instead, with a note saying so.

The choices (which run, which pods in what order, which tails) are pure
functions; ``run`` only reads the API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from shakedown import GROUP, VERSION
from shakedown.adapters.jobs import LABEL_RESOURCE, LABEL_RUN, LABEL_SCENARIO, LABEL_STEP
from shakedown.checks.base import object_name
from shakedown.cli.commands import add_command
from shakedown.cli.kube import add_object
from shakedown.cli.main import UserError

Obj = Mapping[str, Any]


# --------------------------------------------------------------------------- pure choices
def pick_run(obj: Obj, run: str | None) -> str:
    """The run to show: ``run`` if the object knows it, else the current or last run."""
    status: Obj = obj.get("status") or {}
    known = [
        r.get("id")
        for r in (
            status.get("currentRun"),
            status.get("lastRun"),
            *(status.get("recentRuns") or []),
        )
        if r and r.get("id")
    ]
    if run is not None:
        if known and run not in known:
            raise UserError(
                f"--run {run}: not a run of {obj['metadata']['name']} (known: "
                f"{', '.join(dict.fromkeys(known))})"
            )
        return run
    if not known:
        raise UserError(f"containerimagerefresh/{obj['metadata']['name']} has no runs yet")
    return str(known[0])


def run_selector(resource: str, run: str, test: str | None) -> str:
    selector = f"{LABEL_RESOURCE}={resource[:63]},{LABEL_RUN}={run}"
    if test is not None:
        selector += f",{LABEL_STEP}=test,{LABEL_SCENARIO}={test}"
    return selector


def order_pods(pods: Iterable[Obj]) -> list[Obj]:
    """Build first, then tests by scenario; retries of a Job oldest first."""

    def key(pod: Obj) -> tuple[int, str, str]:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        step = 0 if labels.get(LABEL_STEP) == "build" else 1
        created = str((pod.get("metadata") or {}).get("creationTimestamp") or "")
        return step, str(labels.get(LABEL_SCENARIO, "")), created

    return sorted(pods, key=key)


def pod_title(pod: Obj) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    what = labels.get(LABEL_STEP, "pod")
    if labels.get(LABEL_SCENARIO):
        what = f"test {labels[LABEL_SCENARIO]}"
    return f"==> {what} (pod {pod['metadata']['name']}) <=="


@dataclass(frozen=True)
class Tail:
    title: str
    text: str


def run_tails(obj: Obj, run: str, test: str | None) -> list[Tail]:
    """What status kept of a run's logs: test log tails and the build's failure message."""
    status: Obj = obj.get("status") or {}
    tails: list[Tail] = []
    for summary in (status.get("currentRun"), status.get("lastRun")):
        if not summary or summary.get("id") != run:
            continue
        for entry in [*(summary.get("tests") or []), *(summary.get("failedTests") or [])]:
            if entry.get("logTail") and test in (None, entry.get("name")):
                tails.append(
                    Tail(
                        f"==> test {entry.get('name')} (kept in status) <==", str(entry["logTail"])
                    )
                )
        if not tails and test is None and summary.get("phase") == "Failed":
            tails.append(Tail("==> run message (kept in status) <==", str(summary.get("message"))))
        if tails:
            break
    return tails


def job_check(obj: Obj, check: str) -> tuple[str, str]:
    """(namespace, Job name) of a smoke Job check; refuses other check types."""
    status: Obj = obj.get("status") or {}
    name = obj["metadata"]["name"]
    checks = {c.get("name"): c for c in status.get("checks") or []}
    if check not in checks:
        known = ", ".join(str(c) for c in checks) or "none yet"
        raise UserError(
            f"infrarollout/{name}: no check {check!r} in revision "
            f"{status.get('revision', 0)} (checks: {known})"
        )
    entry = checks[check]
    if entry.get("type") != "Job":
        raise UserError(
            f"check {check} is a {entry.get('type')} check, only Job checks have "
            f"logs; its result: {entry.get('phase')}: {entry.get('message') or '-'}"
        )
    namespace = status.get("shadowNamespace")
    job = entry.get("job") or object_name("shakedown-job", check, int(status.get("revision", 0)))
    return str(namespace or ""), str(job)


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "logs")
    add_object(parser)
    parser.add_argument("--run", metavar="ID", help="cir: a run id (default: current or last)")
    parser.add_argument("--test", metavar="NAME", help="cir: only this test scenario")
    parser.add_argument("--check", metavar="NAME", help="iro: the smoke Job check (required)")
    parser.add_argument("-f", "--follow", action="store_true", help="stream until pods end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from shakedown.cli.kube import (
        core_api,
        current_namespace,
        custom_api,
        resolve_kind,
        talking_to_cluster,
    )

    out = out or sys.stdout
    spec = resolve_kind(args.kind)
    if spec.kind == "InfraRollout" and not args.check:
        raise UserError("logs iro NAME needs --check NAME (a smoke Job check)")
    if spec.kind == "InfraRollout" and (args.run or args.test):
        raise UserError("--run and --test are for cir; use --check for iro")
    if spec.kind == "ContainerImageRefresh" and args.check:
        raise UserError("--check is for iro; use --run/--test for cir")
    namespace = args.namespace or current_namespace()
    with talking_to_cluster(what=f'{spec.singular} "{args.name}"', namespace=namespace):
        obj = custom_api().get_namespaced_custom_object(
            GROUP, VERSION, namespace, spec.plural, args.name
        )
    core = core_api()
    if spec.kind == "InfraRollout":
        where, job = job_check(obj, args.check)
        pods: list[Obj] = []
        if where:
            with talking_to_cluster(what=f"pods of Job {job}", namespace=where):
                pods = _pods(core, where, f"job-name={job}", missing_ok=True)
        if not pods:
            entry = next(c for c in obj["status"]["checks"] if c.get("name") == args.check)
            print(
                f"shakedown: the pods of Job {job} are gone (the shadow namespace is deleted "
                "after the revision); the check's result kept in status:",
                file=sys.stderr,
            )
            print(f"{entry.get('phase')}: {entry.get('message') or '-'}", file=out)
            return 0
        _print_logs(core, where, pods, out, follow=args.follow, titles=False)
        return 0
    run_id = pick_run(obj, args.run)
    with talking_to_cluster(what=f"pods of run {run_id}", namespace=namespace):
        pods = _pods(core, namespace, run_selector(args.name, run_id, args.test))
    if pods:
        _print_logs(core, namespace, order_pods(pods), out, follow=args.follow, titles=True)
        return 0
    tails = run_tails(obj, run_id, args.test)
    if not tails:
        what = f"test {args.test} of run {run_id}" if args.test else f"run {run_id}"
        raise UserError(f"no pods left for {what}, and no log kept in status")
    print(
        f"shakedown: the pods of run {run_id} are gone; showing the log tail kept in status",
        file=sys.stderr,
    )
    for tail in tails:
        print(tail.title, file=out)
        out.write(tail.text if tail.text.endswith("\n") else tail.text + "\n")
    return 0


def _pods(core: Any, namespace: str, selector: str, *, missing_ok: bool = False) -> list[Obj]:
    from shakedown.adapters.kubeclient import ApiException

    try:
        listed = core.list_namespaced_pod(namespace, label_selector=selector)
    except ApiException as exc:
        if missing_ok and exc.status == 404:
            return []
        raise
    items: list[Obj] = core.api_client.sanitize_for_serialization(listed).get("items") or []
    return items


def _containers(pod: Obj) -> Sequence[str]:
    spec: Obj = pod.get("spec") or {}
    return [c["name"] for c in [*(spec.get("initContainers") or []), *spec.get("containers", [])]]


def _print_logs(
    core: Any, namespace: str, pods: Sequence[Obj], out: TextIO, *, follow: bool, titles: bool
) -> None:
    from shakedown.adapters.kubeclient import ApiException

    for pod in pods:
        name = pod["metadata"]["name"]
        containers = _containers(pod)
        if titles:
            print(pod_title(pod), file=out, flush=True)
        for container in containers:
            if len(containers) > 1:
                print(f"--- container {container} ---", file=out, flush=True)
            try:
                resp = core.read_namespaced_pod_log(
                    name, namespace, container=container, follow=follow, _preload_content=False
                )
                for chunk in resp.stream(4096):
                    out.write(chunk.decode("utf-8", errors="replace"))
                    out.flush()
            except ApiException as exc:
                print(f"({name}/{container}: no log: {exc.reason})", file=out, flush=True)
