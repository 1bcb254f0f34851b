"""``shakedown get cir|iro [NAME]``: the objects as an aligned table, like kubectl.

The columns of each kind are a list of ``Column`` values in ``COLUMNS``; the
helpers that own a kind add theirs with ``add_columns`` (``wide=True`` for
``-o wide`` only), so this module never needs to know what a run or a rollout
is. One named object also gets its detail view (``DETAILS``).

``--watch`` follows changes from the resourceVersion of the very list that was
printed (``shakedown.adapters.listwatch``). A table prints a row per change, like
``kubectl get -w``; a detail view is redrawn whole, in place on a terminal (like
``kubectl argo rollouts get --watch``) and as a fresh, separated copy otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from shakedown.api.common import short_digest
from shakedown.api.names import KindNames
from shakedown.cli.commands import add_command
from shakedown.cli.describe_cir import describe_image_refresh, duration
from shakedown.cli.describe_iro import describe_infra_rollout
from shakedown.cli.kube import add_object, current_namespace, resolve_kind
from shakedown.cli.main import UserError
from shakedown.presentation.reading import (
    age,
    condition,
    health,
    message,
    path,
    seconds_between,
    text,
)

Obj = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Column:
    """One table column: a header and how to read its cell from an object."""

    header: str
    cell: Callable[[Obj], str]
    wide: bool = False
    """Only shown with ``-o wide``."""


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


def _last_run_time(obj: Obj) -> str:
    run = path(obj, "status.lastRun") or {}
    return duration(seconds_between(run.get("startedAt"), run.get("finishedAt")))


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


#: Extra lines printed below the table when one object is named.
DETAILS: dict[str, Callable[[Obj], list[str]]] = {
    "ContainerImageRefresh": describe_image_refresh,
    "InfraRollout": describe_infra_rollout,
}

#: Clear the terminal and home the cursor before a redraw.
CLEAR = "\x1b[H\x1b[2J"


def view(
    objects: Sequence[Obj], kind: str, *, wide: bool, all_namespaces: bool, named: bool
) -> list[str]:
    """The whole output for ``objects``: the table, then the detail view of a named object."""
    columns = [c for c in COLUMNS[kind] if wide or not c.wide]
    lines, _ = render(objects, columns, namespace_column=all_namespaces)
    details = DETAILS.get(kind)
    if named and details is not None and objects:
        lines += details(objects[0])
    return lines


def redraw(lines: Sequence[str], *, tty: bool, first: bool) -> str:
    """Text that replaces the previous view: cleared on a terminal, else a separated copy."""
    body = "".join(f"{line}\n" for line in lines)
    if tty:
        return CLEAR + body
    return body if first else "\n---\n" + body


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "get")
    add_object(
        parser,
        kind_help="cir or iro (or the full kind name)",
        name_optional=True,
        all_namespaces=True,
    )
    parser.add_argument(
        "-o", "--output", choices=("table", "wide", "yaml", "json"), default="table"
    )
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="follow changes: a row per change, or the detail view of NAME redrawn",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from shakedown.adapters.listwatch import CustomObjects, Listing, follow
    from shakedown.cli.kube import custom_api, talking_to_cluster

    out = out or sys.stdout
    spec = resolve_kind(args.kind)
    namespace = None if args.all_namespaces else (args.namespace or current_namespace())
    if args.name and namespace is None:
        raise UserError("a NAME cannot be combined with --all-namespaces")
    what = f'{spec.singular} "{args.name}"' if args.name else spec.plural
    source = CustomObjects(custom_api(), spec.plural, namespace, args.name)
    with talking_to_cluster(what=what, namespace=namespace):
        try:
            listing = source.list()
        except Exception as exc:
            _crd_missing(exc, spec)
            raise
    objects = listing.items
    if args.name and not objects:
        raise UserError(f"{what} not found in namespace {namespace}")
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
    wide = args.output == "wide"
    tty = out.isatty()

    def whole(items: Sequence[Obj]) -> list[str]:
        return view(
            items, spec.kind, wide=wide, all_namespaces=namespace is None, named=bool(args.name)
        )

    out.write(redraw(whole(objects), tty=tty and bool(args.name) and args.watch, first=True))
    out.flush()
    if not args.watch:
        return 0
    columns = [c for c in COLUMNS[spec.kind] if wide or not c.wide]
    _, widths = render(objects, columns, namespace_column=namespace is None)

    def on_event(kind: str, obj: Obj) -> None:
        if args.name:
            gone = [f"{spec.singular}/{args.name} deleted"] if kind == "DELETED" else []
            out.write(redraw(gone or whole([obj]), tty=tty, first=False))
        else:
            rows, _ = render(
                [obj], columns, namespace_column=namespace is None, header=False, widths=widths
            )
            out.write("".join(f"{row}\n" for row in rows))
        out.flush()

    def on_relist(fresh: Listing) -> None:
        nonlocal widths
        _, widths = render(fresh.items, columns, namespace_column=namespace is None)
        out.write(redraw(whole(fresh.items), tty=tty and bool(args.name), first=False))
        out.flush()

    with talking_to_cluster(what=what, namespace=namespace):
        try:
            follow(source, listing, on_listed=on_relist, on_event=on_event)
        except KeyboardInterrupt:
            return 0
    return 0


def _crd_missing(exc: Exception, spec: KindNames) -> None:
    """A 404 on a list means the CRD itself is absent; say how to install it."""
    if getattr(exc, "status", None) == 404:
        raise UserError(f"the {spec.kind} CRD is not installed: kubectl apply -f crds/") from None
