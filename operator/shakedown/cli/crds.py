"""``shakedown crds``: print, write or check the CRDs generated from the models.

``--write DIR`` is what ``make crds`` runs; ``--check DIR`` exits non-zero when
the files in DIR differ from freshly generated output (useful in CI and in
pre-commit hooks). ``--apply`` creates or replaces them in the cluster: Helm
never upgrades a chart's crds/, so the chart's pre-upgrade hook Job runs it
with the new operator image (charts/shakedown/templates/crd-upgrade.yaml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shakedown.api.crdgen import render_all
from shakedown.cli.commands import add_command
from shakedown.cli.main import UserError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "crds")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="DIR", type=Path, help="write one file per kind")
    group.add_argument(
        "--check", metavar="DIR", type=Path, help="fail when DIR is stale (run make crds)"
    )
    group.add_argument(
        "--apply",
        action="store_true",
        help="create or replace them in the cluster and wait until Established",
    )
    parser.set_defaults(func=run)


def stale_files(directory: Path) -> list[str]:
    """Names of generated files that are missing from or differ in ``directory``."""
    stale = []
    for name, text in render_all().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def apply() -> int:
    from shakedown.adapters import crds as crd_adapter
    from shakedown.cli.kube import api_client, talking_to_cluster

    with talking_to_cluster(what="customresourcedefinitions", namespace=None):
        try:
            names = crd_adapter.install(api_client(), timeout=120)
        except TimeoutError as exc:
            raise UserError(str(exc)) from None
    for name in names:
        print(f"applied {name}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.apply:
        return apply()
    files = render_all()
    if args.write is not None:
        directory: Path = args.write
        if directory.exists() and not directory.is_dir():
            raise UserError(f"--write {directory}: not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
            print(f"wrote {directory / name}")
        return 0
    if args.check is not None:
        if not args.check.is_dir():
            raise UserError(f"--check {args.check}: not a directory")
        stale = stale_files(args.check)
        if stale:
            print(
                f"stale CRDs in {args.check}: {', '.join(stale)}; run `make crds`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check}: up to date")
        return 0
    sys.stdout.write("".join(files.values()))
    return 0
