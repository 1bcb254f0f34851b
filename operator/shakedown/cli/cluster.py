"""``shakedown cluster up|down|status|env|image``: the local cluster for demos and tests.

A thin wrapper around ``shakedown.localcluster.cluster``: it prints progress
lines and turns ``ClusterError`` into the CLI's one-line ``UserError``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from shakedown.cli.commands import add_command
from shakedown.cli.main import UserError
from shakedown.localcluster import cluster
from shakedown.localcluster import restart as restart_mod
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "cluster")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("up", help="start it (harmless when already running)").set_defaults(func=_up)
    sub.add_parser("down", help="stop it and remove everything it left").set_defaults(func=_down)
    status = sub.add_parser("status", help="show whether it runs and what it uses")
    status.add_argument("--quiet", "-q", action="store_true", help="only the exit code")
    status.set_defaults(func=_status)
    env = sub.add_parser("env", help="print KUBECONFIG=... and REGISTRY=... lines")
    env.set_defaults(func=_env)
    restart = add_command(sub, "cluster restart")
    restart.add_argument("component", choices=sorted(restart_mod.RESTARTABLE))
    restart.add_argument(
        "--down-for", type=float, default=0.0, metavar="SECONDS", help="stay down this long"
    )
    restart.set_defaults(func=_restart)
    image = sub.add_parser("image", help="build a project image into the local registry")
    image.add_argument(
        "which",
        choices=["operator", "builder"],
        help="operator: shakedown in a venv; builder: buildah for refresh build Jobs",
    )
    image.add_argument("--tag", default="latest", help="operator: tag to push (default: latest)")
    image.set_defaults(func=_image)


def _say(message: str) -> None:
    print(message, flush=True)


def _layout() -> Layout:
    try:
        return Layout.default()
    except ClusterError as exc:
        raise UserError(str(exc)) from None


def _up(args: argparse.Namespace) -> int:
    layout = _layout()
    started = time.monotonic()
    try:
        cluster.up(layout, say=_say)
    except ClusterError as exc:
        raise UserError(str(exc)) from None
    _say(f"done in {time.monotonic() - started:.1f}s")
    return 0


def _restart(args: argparse.Namespace) -> int:
    if not 0 <= args.down_for <= 600:
        raise UserError(f"--down-for {args.down_for:g}: between 0 and 600 seconds")
    try:
        restart_mod.restart(_layout(), args.component, down_for=args.down_for, say=_say)
    except ClusterError as exc:
        raise UserError(str(exc)) from None
    return 0


def _down(args: argparse.Namespace) -> int:
    layout = _layout()
    try:
        cluster.down(layout, say=_say)
    except ClusterError as exc:
        raise UserError(str(exc)) from None
    return 0


def _status(args: argparse.Namespace) -> int:
    layout = _layout()
    state = cluster.status(layout)
    if not args.quiet:
        for name, alive in state.components.items():
            print(f"  {name:<24} {'running' if alive else 'stopped'}")
        print(f"  {'/readyz':<24} {'ok' if state.readyz else 'no'}")
        print(f"  {'node Ready':<24} {'yes' if state.node_ready else 'no'}")
        print(f"  {'registry':<24} {layout.network.registry if state.registry else 'down'}")
        print(
            f"  {'cluster DNS':<24} {layout.network.dns_service_ip if state.dns else 'not ready'}"
        )
        print(f"  {'memory (RSS sum)':<24} {state.rss_mib:.0f} MiB")
        verdict = (
            "healthy"
            if state.healthy
            else "not running"
            if not any(state.components.values())
            else "unhealthy"
        )
        print(f"local cluster: {verdict}")
        if state.healthy:
            sys.stdout.write(cluster.env_text(layout))
    return 0 if state.healthy else 1


def _say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _image(args: argparse.Namespace) -> int:
    from shakedown.localcluster.builder_image import build_builder_image
    from shakedown.localcluster.operator_image import build_operator_image

    layout = _layout()
    started = time.monotonic()
    try:
        if args.which == "builder":
            ref = build_builder_image()
        else:
            ref = build_operator_image(layout, tag=args.tag, say=_say_stderr).by_digest
    except ClusterError as exc:
        raise UserError(str(exc)) from None
    print(f"built in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(ref)
    return 0


def _env(args: argparse.Namespace) -> int:
    layout = _layout()
    if not layout.env_file.exists():
        raise UserError("the local cluster is not running; start it with 'make cluster'")
    sys.stdout.write(layout.env_file.read_text())
    return 0
