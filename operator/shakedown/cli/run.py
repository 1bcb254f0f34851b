"""``shakedown run``: the operator itself, kopf run programmatically.

Finds the cluster the same way kubectl does (KUBECONFIG, else in-cluster) and
fails with one line when there is none; serves Prometheus metrics on
``--metrics-port``; and runs kopf with the handlers of ``shakedown.handlers``,
in the given namespaces or cluster-wide. With ``--leader-election`` it first
stands by until it holds the leader Lease (``adapters.leadership``): of several
replicas exactly one runs kopf at all. With ``--instance-id`` it handles only
the objects labelled with that id, and elects its leader through a Lease of
its own (``instances``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shakedown.cli.commands import add_command
from shakedown.cli.main import UserError

if TYPE_CHECKING:
    import kopf

    from shakedown.adapters.leadership import Elector


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "run")
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
    parser.add_argument(
        "--instance-id",
        metavar="ID",
        default=None,
        help=(
            "handle only objects labelled shakedown.dev/instance-id=ID, with a Lease of its own "
            "(default: $SHAKEDOWN_INSTANCE_ID; none: only objects without that label)"
        ),
    )
    election = parser.add_argument_group("high availability")
    election.add_argument(
        "--leader-election",
        action="store_true",
        help=(
            "act only while holding a Lease, so replicas can stand by (off by default; "
            "the manifests and the chart turn it on)"
        ),
    )
    election.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        default=None,
        help="namespace of the Lease (default: the pod's own namespace, else default)",
    )
    election.add_argument(
        "--leader-election-name",
        metavar="NAME",
        default="shakedown-leader",
        help="name of the Lease (default shakedown-leader; with --instance-id, -ID appended)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log more")
    verbosity.add_argument("--debug", action="store_true", help="log everything kopf does")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    without_client_library()
    from shakedown.adapters import credentials

    try:
        server = credentials.endpoint().server
    except credentials.NoCluster as exc:
        raise UserError(str(exc)) from None
    from shakedown import outbound

    allow = ",".join(args.allow_outbound or []) or os.environ.get(outbound.ALLOW_ENV, "")
    try:
        outbound.configure(allow, [server])
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

    ensure_user_name()
    instance = instance_id(args.instance_id)
    kopf.configure(verbose=args.verbose, debug=args.debug)
    elector = _lead(args, instance) if args.leader_election else None
    namespaces: list[str] = args.namespace or []
    try:
        kopf.run(
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=args.liveness,
            standalone=True,
            memo=operator_memo(instance),
        )
    finally:
        if elector is not None:
            elector.release()
    return 0


def without_client_library() -> None:
    """Keep the Kubernetes client libraries out of the operator's process.

    The operator talks to the API server through ``adapters.apiserver`` only;
    kopf imports ``kubernetes`` and ``pykube`` whenever they are installed (the
    CLI uses the first), just to recognise their objects, which the operator
    never hands it. Those imports held about 15 and 7 MiB for good (issue 11's
    idle memory). A process that has already imported one (``shakedown
    selftest`` runs the operator in-process after using the library) keeps it.
    """
    for library in ("kubernetes", "pykube"):
        sys.modules.setdefault(library, None)  # type: ignore[arg-type]


def instance_id(flag: str | None) -> str | None:
    """``--instance-id``, else $SHAKEDOWN_INSTANCE_ID, checked (None: no instance id)."""
    from shakedown.api import instances

    value = flag if flag is not None else os.environ.get(instances.ENV, "")
    if not value:
        return None
    problem = instances.problem(value)
    if problem is not None:
        source = "--instance-id" if flag is not None else f"${instances.ENV}"
        raise UserError(f"{source} {problem}")
    return value


def operator_memo(instance: str | None) -> kopf.Memo:
    """kopf's memo as every handler finds it: the instance id (``instances``)."""
    import kopf

    from shakedown.api import instances

    memo = kopf.Memo()
    if instance:
        memo[instances.MEMO_KEY] = instance
    return memo


def _lead(args: argparse.Namespace, instance: str | None) -> Elector:
    """Stand by until this process holds the leader Lease (``adapters.leadership``)."""
    from shakedown.adapters import apiserver, leadership
    from shakedown.api import instances

    name = instances.lease_name(args.leader_election_name, instance)
    namespace: str = args.leader_election_namespace or _own_namespace()
    for flag, value in (
        ("--leader-election-name", name),
        ("--leader-election-namespace", namespace),
    ):
        if not _DNS_NAME.fullmatch(value):
            raise UserError(f"{flag} {value!r}: not a valid Kubernetes name")
    elector = leadership.Elector(apiserver.connect(), namespace, name)
    try:
        with leadership.standby_health(args.liveness):
            elector.acquire()
    except OSError as exc:
        raise UserError(f"--liveness {args.liveness}: cannot listen ({exc.strerror})") from None
    return elector


_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _own_namespace() -> str:
    """The pod's namespace in a cluster, else default."""
    return pod_namespace() or "default"


def pod_namespace() -> str | None:
    """The pod's namespace (POD_NAMESPACE, else its ServiceAccount's); None outside a pod."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def ensure_user_name() -> None:
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
