"""``shakedown run``: the operator itself, kopf run programmatically.

Finds the cluster the same way kubectl does (KUBECONFIG, else in-cluster) and
fails with one line when there is none; serves Prometheus metrics on
``--metrics-port``; and runs kopf with the handlers of ``shakedown.handlers``,
in the given namespaces or cluster-wide.
"""

from __future__ import annotations

import argparse
import os

from shakedown.cli.main import UserError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the operator against the cluster KUBECONFIG names",
        description="Run the shakedown operator (kopf) against the current cluster.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        metavar="NS",
        help="watch only this namespace (repeatable; a glob such as ci-* works)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch every namespace (the default)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        metavar="N",
        help="serve Prometheus metrics on this port (0: off; default 8080)",
    )
    parser.add_argument(
        "--metrics-address", default="0.0.0.0", metavar="ADDR", help="bind address for metrics"
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz",
    )
    parser.add_argument(
        "--allow-outbound",
        action="append",
        metavar="CIDR",
        help=(
            "let specs' URLs reach these addresses although they are loopback, link-local "
            "or the API server's (repeatable; default: $SHAKEDOWN_OUTBOUND_ALLOW)"
        ),
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log more")
    verbosity.add_argument("--debug", action="store_true", help="log everything kopf does")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shakedown.adapters import kubeclient

    try:
        kubeclient.load()
    except kubeclient.NoCluster as exc:
        raise UserError(str(exc)) from None
    from shakedown import outbound

    allow = ",".join(args.allow_outbound or []) or os.environ.get(outbound.ALLOW_ENV, "")
    try:
        outbound.configure(allow, [kubeclient.server_url()])
    except ValueError as exc:
        raise UserError(str(exc)) from None

    import kopf

    import shakedown.handlers  # noqa: F401  (registers the handlers)
    from shakedown import metrics

    if args.metrics_port < 0 or args.metrics_port > 65535:
        raise UserError(f"--metrics-port {args.metrics_port}: not a port number")
    if args.metrics_port:
        try:
            metrics.serve(args.metrics_port, args.metrics_address)
        except OSError as exc:
            raise UserError(
                f"--metrics-port {args.metrics_port}: cannot listen ({exc.strerror})"
            ) from None

    _ensure_user_name()
    kopf.configure(verbose=args.verbose, debug=args.debug)
    namespaces: list[str] = args.namespace or []
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness,
        standalone=True,
    )
    return 0


def _ensure_user_name() -> None:
    """Give the process a user name when its UID has none.

    kopf names its identity after the user; under OpenShift's restricted SCC (and
    any ``runAsUser`` without a passwd entry) the UID is arbitrary and
    ``getpass.getuser()`` raises, so USER is set for it.
    """
    import getpass
    import os

    try:
        getpass.getuser()
    except (KeyError, OSError):
        os.environ["USER"] = "shakedown"
