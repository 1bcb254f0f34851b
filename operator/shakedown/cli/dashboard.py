"""``shakedown dashboard``: serve the web dashboard for one namespace or all of them.

The page acts with the caller's kubeconfig, so it listens on 127.0.0.1 unless
``--address`` says otherwise, and then it warns (see ``dashboard.guard``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading

from shakedown.cli.commands import add_command
from shakedown.cli.kube import add_namespace
from shakedown.cli.main import UserError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "dashboard")
    parser.add_argument("--port", type=int, default=3100, help="port to listen on (default 3100)")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else prints a warning)",
    )
    add_namespace(parser, all_namespaces=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shakedown.adapters import kubeclient
    from shakedown.adapters.listwatch import CustomObjects
    from shakedown.cli.kube import current_namespace
    from shakedown.dashboard import actions, cluster, guard, server
    from shakedown.dashboard.watches import Hub, KindWatch

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a port number (1-65535)")
    warning = guard.bind_warning(args.address)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        kubeclient.load()
    except kubeclient.NoCluster as exc:
        raise UserError(str(exc)) from None
    namespace = None if args.all_namespaces else (args.namespace or current_namespace())
    action_api = kubeclient.custom()

    def act(kind: str, verb: str, ns: str, name: str, form: dict[str, str]) -> str:
        return actions.run(action_api, kind, verb, ns, name, form)

    def start_watches(hub: Hub, stop: threading.Event) -> None:
        for kind, plural in actions.PLURALS.items():
            api_client = kubeclient.api_client()
            card = cluster.image_card() if kind == "cir" else cluster.rollout_card(api_client)
            source = CustomObjects(kubeclient.custom(api_client), plural, namespace)
            KindWatch(kind=kind, source=source, card=card, hub=hub, stop=stop).start()

    config = server.Config(
        scope="all namespaces" if namespace is None else f"namespace {namespace}",
        token=server.new_token(),
        hosts=guard.allowed_hosts(args.address, args.port),
        act=act,
    )

    def ready(url: str) -> None:
        print(f"shakedown dashboard: {url} ({config.scope}); Ctrl-C stops it", flush=True)

    try:
        asyncio.run(
            server.serve(
                address=args.address,
                port=args.port,
                config=config,
                start_watches=start_watches,
                ready=ready,
            )
        )
    except OSError as exc:
        raise UserError(f"cannot listen on {args.address}:{args.port}: {exc.strerror}") from None
    except KeyboardInterrupt:
        return 0
    return 0
