"""``shakedown get cir|iro [NAME]``: the objects as an aligned table, like kubectl.

The columns of each kind are a list of ``Column`` values in ``COLUMNS``; the
helpers that own a kind add theirs with ``add_columns`` (``wide=True`` for
``-o wide`` only), so this module never needs to know what a run or a rollout
is. ``--watch`` prints a row for every change after the first table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, cast

import yaml

from shakedown import GROUP, VERSION
from shakedown.api.common import short_digest
from shakedown.api.crdgen import KindSpec, kind_spec
from shakedown.cli.main import UserError

Obj = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Column:
    """One table column: a header and how to read its cell from an object."""

    header: str
    cell: Callable[[Obj], str]
    wide: bool = False
    """Only shown with ``-o wide``."""


def path(obj: Obj, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def condition(obj: Obj, type_: str) -> Mapping[str, Any]:
    for cond in path(obj, "status.conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def age(timestamp: str | None, *, now: datetime | None = None) -> str:
    """kubectl-style age: 45s, 5m, 3h, 2d, 1y (<unknown> when unset)."""
    if not timestamp:
        return "<unknown>"
    created = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - created).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def health(obj: Obj) -> str:
    """Ready / Reconciling / Stalled / - from the kstatus conditions."""
    for type_ in ("Stalled", "Reconciling", "Ready"):
        if condition(obj, type_).get("status") == "True":
            return type_
    return "-"


def message(obj: Obj) -> str:
    for type_ in ("Stalled", "Reconciling", "Ready"):
        cond = condition(obj, type_)
        if cond.get("status") == "True" and cond.get("message"):
            return str(cond["message"])
    return str(condition(obj, "Ready").get("message", ""))


NAME = Column(header="NAME", cell=lambda o: text(path(o, "metadata.name")))
AGE = Column(header="AGE", cell=lambda o: age(path(o, "metadata.creationTimestamp")))

COLUMNS: dict[str, list[Column]] = {
    "ContainerImageRefresh": [
        NAME,
        Column(header="TAG", cell=lambda o: text(path(o, "spec.tag"))),
        Column(
            header="PROMOTED",
            cell=lambda o: short_digest(path(o, "status.promotedDigest")) or "<none>",
        ),
        Column(header="LAST RUN", cell=lambda o: text(path(o, "status.lastRun.phase"))),
        Column(header="TRIGGER", cell=lambda o: text(path(o, "status.lastRun.trigger"))),
        Column(header="STATE", cell=health),
        Column(header="NEXT RUN", cell=lambda o: text(path(o, "status.nextRunAt")), wide=True),
        Column(
            header="CANDIDATE",
            cell=lambda o: short_digest(path(o, "status.candidateDigest")) or "<none>",
            wide=True,
        ),
        Column(header="RUN TIME", cell=lambda o: _last_run_time(o), wide=True),
        AGE,
        Column(header="MESSAGE", cell=message),
    ],
    "InfraRollout": [
        NAME,
        Column(header="REVISION", cell=lambda o: text(path(o, "status.revision"))),
        Column(header="PHASE", cell=lambda o: text(path(o, "status.phase"))),
        Column(header="STEP", cell=lambda o: text(path(o, "status.currentStep"))),
        Column(header="SHADOW", cell=lambda o: text(path(o, "status.shadowNamespace"))),
        Column(header="STATE", cell=health),
        Column(header="STRATEGY", cell=lambda o: text(path(o, "spec.strategy.type")), wide=True),
        AGE,
        Column(header="REASON", cell=lambda o: text(condition(o, "Ready").get("reason"))),
        Column(header="WAITING FOR", cell=lambda o: text(path(o, "status.waitingFor")), wide=True),
        Column(
            header="ROLLBACK REASON",
            cell=lambda o: text(path(o, "status.rollbackReason")),
            wide=True,
        ),
        Column(header="MESSAGE", cell=message, wide=True),
    ],
}


# --------------------------------------------------------------------------- details
def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    finish = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return max(0.0, (finish - begin).total_seconds())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _phase_time(run: Obj, name: str) -> str:
    for phase in run.get("phases") or []:
        if phase.get("name") == name:
            return _duration(_seconds(phase.get("startedAt"), phase.get("finishedAt")))
    return "-"


def describe_image_refresh(obj: Obj) -> list[str]:
    """Lines below the table for one ContainerImageRefresh: runs, phases, digests, failures."""
    status: Obj = obj.get("status") or {}
    spec: Obj = obj.get("spec") or {}
    lines = [""]
    image = f"{spec.get('image')}:{spec.get('tag', 'latest')}"
    lines.append(f"Image:       {image} -> {status.get('promotedDigest') or '<never promoted>'}")
    if status.get("candidateDigest"):
        lines.append(f"Candidate:   {status['candidateDigest']}")
    if spec.get("schedule"):
        lines.append(
            f"Schedule:    {spec['schedule']} ({spec.get('timeZone', 'UTC')}), "
            f"next {status.get('nextRunAt') or '-'}"
        )
    pending = status.get("pendingTriggers") or []
    if pending:
        lines.append("Pending:     " + ", ".join(str(p.get("trigger")) for p in pending))
    current: Obj = status.get("currentRun") or {}
    if current:
        lines.append(
            f"Running:     run {current.get('id')} {current.get('phase')} "
            f"({current.get('trigger')}, since {current.get('startedAt')}): "
            f"{current.get('message', '')}"
        )
        for test in current.get("tests") or []:
            reason = f" ({test['reason']})" if test.get("reason") else ""
            lines.append(f"  scenario {test.get('name')}: {test.get('phase')}{reason}")
    runs = list(status.get("recentRuns") or [])
    if not runs and status.get("lastRun"):
        runs = [status["lastRun"]]
    if runs:
        lines.append("Runs:")
        table = [
            ["RUN", "TRIGGER", "RESULT", "STARTED", "TOTAL", "BUILD", "TEST", "PROMOTE", "DIGEST"]
        ]
        for run in runs:
            table.append(
                [
                    str(run.get("id")),
                    str(run.get("trigger")),
                    str(run.get("phase")),
                    str(run.get("startedAt") or "-"),
                    _duration(_seconds(run.get("startedAt"), run.get("finishedAt"))),
                    _phase_time(run, "Build"),
                    _phase_time(run, "Test"),
                    _phase_time(run, "Promote"),
                    short_digest(run.get("candidateDigest")) or "-",
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            lines.append(
                "  " + "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
    last: Obj = status.get("lastRun") or {}
    if last.get("failedTests"):
        lines.append(f"Failed scenarios (run {last.get('id')}):")
        for failed in last["failedTests"]:
            lines.append(f"  {failed.get('name')}: {failed.get('reason') or 'failed'}")
            for log_line in str(failed.get("logTail") or "").rstrip().splitlines()[-10:]:
                lines.append(f"    | {log_line}")
    elif last.get("phase") == "Failed":
        lines.append(f"Failure (run {last.get('id')}):")
        for msg_line in str(last.get("message") or "").splitlines()[-12:]:
            lines.append(f"    | {msg_line}")
    history = status.get("history") or []
    if history:
        lines.append("History (rollback targets, newest first):")
        for entry in history:
            lines.append(
                f"  {entry.get('digest')}  promoted {entry.get('promotedAt')}"
                f"  run {entry.get('runId') or '-'}"
            )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Rollback":
            lines.append(f"Rollback:    {cond.get('reason')}: {cond.get('message')}")
    return lines


#: Extra lines printed below the table when one object is named.
DETAILS: dict[str, Callable[[Obj], list[str]]] = {
    "ContainerImageRefresh": describe_image_refresh,
}


def _last_run_time(obj: Obj) -> str:
    run = path(obj, "status.lastRun") or {}
    return _duration(_seconds(run.get("startedAt"), run.get("finishedAt")))


def add_columns(kind: str, columns: Iterable[Column], *, before: str = "AGE") -> None:
    """Insert columns for a kind before the column headed ``before`` (or at the end)."""
    existing = COLUMNS[kind]
    headers = [c.header for c in existing]
    index = headers.index(before) if before in headers else len(existing)
    existing[index:index] = list(columns)


def render(
    objects: Sequence[Obj],
    columns: Sequence[Column],
    *,
    namespace_column: bool = False,
    header: bool = True,
    widths: list[int] | None = None,
) -> tuple[list[str], list[int]]:
    """Lines of an aligned table (three spaces between columns, like kubectl), and widths.

    Pass the widths of an earlier table to print further rows aligned with it.
    """
    headers = [c.header for c in columns]
    rows = [[c.cell(o) for c in columns] for o in objects]
    if namespace_column:
        headers = ["NAMESPACE", *headers]
        rows = [
            [text(path(o, "metadata.namespace")), *r] for o, r in zip(objects, rows, strict=True)
        ]
    table = ([headers] if header else []) + rows
    if widths is None:
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("   ".join([*cells, row[-1]]).rstrip())
    return lines, widths


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "get",
        help="list ContainerImageRefreshes (cir) or InfraRollouts (iro)",
        description="Show shakedown objects as a table (like kubectl get).",
    )
    parser.add_argument("kind", metavar="KIND", help="cir or iro (or the full kind name)")
    parser.add_argument("name", metavar="NAME", nargs="?", help="one object")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: current)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument(
        "-o", "--output", choices=("table", "wide", "yaml", "json"), default="table"
    )
    parser.add_argument("-w", "--watch", action="store_true", help="print changes as they happen")
    parser.set_defaults(func=run)


def resolve_kind(name: str) -> KindSpec:
    try:
        spec = kind_spec(name.lower())
    except KeyError:
        raise UserError(f"unknown kind {name!r}: use cir or iro") from None
    if spec.kind not in COLUMNS:  # configuration kinds such as MetricTemplate
        raise UserError(f"shakedown get shows cir and iro; use kubectl get {spec.plural}")
    return spec


def current_namespace() -> str:
    from kubernetes import config

    try:
        _, active = cast(Any, config).list_kube_config_contexts()
    except Exception:  # no kubeconfig (in-cluster): fall through
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from kubernetes import client, watch
    from kubernetes.client.exceptions import ApiException

    from shakedown.adapters import kubeclient

    out = out or sys.stdout
    spec = resolve_kind(args.kind)
    try:
        api: Any = client.CustomObjectsApi(kubeclient.api_client())
    except kubeclient.NoCluster as exc:
        raise UserError(str(exc)) from None
    namespace = None if args.all_namespaces else (args.namespace or current_namespace())
    if args.name and namespace is None:
        raise UserError("a NAME cannot be combined with --all-namespaces")

    def fetch() -> list[Obj]:
        try:
            if args.name:
                assert namespace is not None
                return [
                    api.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, spec.plural, args.name
                    )
                ]
            if namespace is None:
                items = api.list_cluster_custom_object(GROUP, VERSION, spec.plural)["items"]
            else:
                items = api.list_namespaced_custom_object(GROUP, VERSION, namespace, spec.plural)[
                    "items"
                ]
        except ApiException as exc:
            raise UserError(_api_error(exc, spec, args.name, namespace)) from None
        return sorted(
            items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    objects = fetch()
    columns = [c for c in COLUMNS[spec.kind] if args.output == "wide" or not c.wide]
    if args.output in ("yaml", "json"):
        docs: Any = (
            objects[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": objects}
        )
        out.write(
            json.dumps(docs, indent=2) + "\n"
            if args.output == "json"
            else yaml.safe_dump(docs, sort_keys=False)
        )
        return 0
    if not objects and not args.watch:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No {spec.plural} found in {where}.", file=out)
        return 0
    lines, widths = render(objects, columns, namespace_column=namespace is None)
    for line in lines:
        print(line, file=out, flush=True)
    details = DETAILS.get(spec.kind)
    if args.name and details is not None and objects:
        for line in details(objects[0]):
            print(line, file=out, flush=True)
    if not args.watch:
        return 0
    stream: Any = cast(Any, watch).Watch()
    kwargs: dict[str, Any] = {}
    if args.name:
        kwargs["field_selector"] = f"metadata.name={args.name}"
    # Start after what was printed, so only changes follow the table (like kubectl -w).
    listed = (
        api.list_cluster_custom_object(GROUP, VERSION, spec.plural, limit=1)
        if namespace is None
        else api.list_namespaced_custom_object(GROUP, VERSION, namespace, spec.plural, limit=1)
    )
    kwargs["resource_version"] = listed["metadata"]["resourceVersion"]
    list_fn: Any = (
        api.list_cluster_custom_object
        if namespace is None
        else lambda *a, **k: api.list_namespaced_custom_object(a[0], a[1], namespace, a[2], **k)
    )
    try:
        for event in stream.stream(list_fn, GROUP, VERSION, spec.plural, **kwargs):
            obj = event["object"]
            rows, _ = render(
                [obj], columns, namespace_column=namespace is None, header=False, widths=widths
            )
            for line in rows:
                print(line, file=out, flush=True)
    except KeyboardInterrupt:
        stream.stop()
    return 0


def _api_error(exc: Any, spec: KindSpec, name: str | None, namespace: str | None) -> str:
    if exc.status == 404 and name:
        return f'{spec.singular} "{name}" not found in namespace {namespace}'
    if exc.status == 404:
        return f"the {spec.kind} CRD is not installed: kubectl apply -f crds/"
    if exc.status == 403:
        return f"forbidden: cannot list {spec.plural} ({exc.reason})"
    return f"{exc.status} {exc.reason}"
