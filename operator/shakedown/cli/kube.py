"""The CLI's one door to the API server, and how its failures read to a user.

Every command needs the same three things: a client for the configured cluster,
the current namespace, and API errors turned into one line (not found,
forbidden, unreachable) with exit code 2. Keeping them here means a new command
cannot forget one of them and print a traceback instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shakedown.api.crdgen import kind_spec
from shakedown.api.names import KindNames
from shakedown.cli.main import UserError

#: The kinds the CLI shows and steers; others (MetricTemplate) are plain configuration.
STEERED_KINDS = ("ContainerImageRefresh", "InfraRollout")


def resolve_kind(name: str, *, only: str | None = None, verb: str = "") -> KindNames:
    """The kind a user typed (cir, iro, or a full name); ``only`` refuses the other one."""
    try:
        spec = kind_spec(name.lower()).names
    except KeyError:
        raise UserError(f"unknown kind {name!r}: use cir or iro") from None
    if spec.kind not in STEERED_KINDS:  # configuration kinds such as MetricTemplate
        raise UserError(f"shakedown works on cir and iro; use kubectl get {spec.plural}")
    if only is not None and spec.kind != only:
        wanted = kind_spec(only).names.short_name
        raise UserError(f"{verb} works on {wanted} only, not {name}")
    return spec


def add_namespace(
    parser: argparse.ArgumentParser,
    *,
    all_namespaces: bool = False,
    help: str = "namespace (default: current)",
) -> None:
    """``-n NS`` (default: the kubeconfig's namespace); ``all_namespaces`` adds ``-A`` beside it.

    ``help`` says what the namespace is for where a command gives it another
    meaning or default (``prove``, ``selftest``); the flag itself is the same.
    """
    where: Any = parser.add_mutually_exclusive_group() if all_namespaces else parser
    where.add_argument("-n", "--namespace", metavar="NS", help=help)
    if all_namespaces:
        where.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def add_object(
    parser: argparse.ArgumentParser,
    *,
    kind_help: str = "cir or iro",
    name_optional: bool = False,
    all_namespaces: bool = False,
) -> None:
    """``KIND NAME`` and ``-n NS``: one way for every command to name the object it acts on.

    ``name_optional`` lets a command act on every object of the kind (``get``).
    """
    parser.add_argument("kind", metavar="KIND", help=kind_help)
    if name_optional:
        parser.add_argument("name", metavar="NAME", nargs="?", help="one object")
    else:
        parser.add_argument("name", metavar="NAME")
    add_namespace(parser, all_namespaces=all_namespaces)


def api_client() -> Any:
    # The client library is imported on first use, so `shakedown --help` stays quick.
    from shakedown.adapters import kubeclient

    try:
        return kubeclient.api_client()
    except kubeclient.NoCluster as exc:
        raise UserError(str(exc)) from None


def custom_api() -> Any:
    from shakedown.adapters import kubeclient

    return kubeclient.custom(api_client())


def core_api() -> Any:
    from shakedown.adapters import kubeclient

    return kubeclient.core(api_client())


def apps_api() -> Any:
    from shakedown.adapters import kubeclient

    return kubeclient.apps(api_client())


def current_namespace() -> str:
    from shakedown.adapters import kubeclient

    return kubeclient.current_namespace()


def describe_api_error(status: int | None, reason: str, *, what: str, namespace: str | None) -> str:
    """One line for an API error about ``what`` (e.g. ``infrarollout "web"``)."""
    if status == 404:
        where = f" in namespace {namespace}" if namespace else ""
        return f"{what} not found{where}"
    if status == 403:
        return f"forbidden: {what} ({reason})"
    if status == 401:
        return f"unauthorized: check the credentials in your kubeconfig ({reason})"
    return f"{what}: {status} {reason}"


@contextmanager
def talking_to_cluster(*, what: str, namespace: str | None) -> Iterator[None]:
    """Turn API and connection errors inside the block into a one-line ``UserError``."""
    from shakedown.adapters.apiserver import ApiError
    from shakedown.adapters.kubeclient import ApiException, HTTPError

    try:
        yield
    except (ApiException, ApiError) as exc:
        if exc.status == 0:  # the operator's own client: no answer at all
            raise UserError(unreachable(exc)) from None
        raise UserError(
            describe_api_error(exc.status, str(exc.reason), what=what, namespace=namespace)
        ) from None
    except HTTPError as exc:
        raise UserError(unreachable(exc)) from None


def unreachable(exc: Exception) -> str:
    """``cannot reach the cluster at https://host:port (the underlying cause)``."""
    from shakedown.adapters import kubeclient

    host = kubeclient.server_url()
    cause = getattr(exc, "reason", None) or exc
    detail = str(cause).split(": ", 1)[-1] if ": " in str(cause) else str(cause)
    return f"cannot reach the cluster at {host} ({detail or type(exc).__name__})"
