"""Entry point of the ``shakedown`` command.

Each subcommand lives in a module of its own under ``shakedown.cli`` and exposes
``register(subparsers)``; this module only collects them, so adding a command
never touches the others. Errors a user can fix are raised as ``UserError`` and
printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from shakedown.presentation.errors import UserError

__all__ = ["COMMAND_MODULES", "UserError", "build_parser", "main"]

#: Modules under ``shakedown.cli`` that contribute subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "crds",
    "cluster",
    "get",
    "steer",
    "wait",
    "prove",
    "lifecycle",
    "logs",
    "version",
    "dashboard",
    "selftest",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shakedown",
        description="Self-validating infrastructure changes on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"shakedown.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"shakedown.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except UserError as exc:
        print(f"shakedown: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result
