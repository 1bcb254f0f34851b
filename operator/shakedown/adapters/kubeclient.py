"""The one module that imports the ``kubernetes`` client library.

Everything else in shakedown reaches the API server through the names here:
the factories (``core()``, ``apps()``, ``custom()``, ...), ``watch()`` for a
list-then-watch stream, and the re-exported ``ApiClient`` and ``ApiException``.
One door means one place to change when the client library changes, and the
layer contract in ``.importlinter`` keeps it that way.

The operator, the CLI and the demo all find the cluster the same way: the file
``KUBECONFIG`` names (or ~/.kube/config), else the in-cluster service account.
When neither exists, ``NoCluster`` carries a one-line explanation for the user.

Every factory takes an optional ``ApiClient``; without one it uses the
configured cluster (``api_client()``), so ``kubeclient.core()`` is the whole
call for the common case and ``kubeclient.core(api)`` reuses a client.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes import dynamic as _dynamic
from kubernetes import watch as _watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

__all__ = [
    "ApiClient",
    "ApiException",
    "HTTPError",
    "NoCluster",
    "api_client",
    "apiextensions",
    "apps",
    "batch",
    "client_for",
    "coordination",
    "core",
    "current_namespace",
    "custom",
    "dynamic",
    "kubeconfig_path",
    "load",
    "plain",
    "rbac",
    "request",
    "server_url",
    "watch",
]


class NoCluster(Exception):
    """No kubeconfig and no in-cluster service account: nothing to talk to."""


def kubeconfig_path() -> Path | None:
    """The kubeconfig that will be used, if any."""
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        return Path(env)
    default = Path.home() / ".kube" / "config"
    return default if default.exists() else None


def load() -> None:
    """Configure the kubernetes client module (idempotent)."""
    _load()


@functools.cache
def _load() -> None:
    path = kubeconfig_path()
    if path is not None:
        if not path.is_file():
            raise NoCluster(f"KUBECONFIG names {path}, which does not exist")
        try:
            config.load_kube_config(config_file=str(path))  # type: ignore[no-untyped-call]
        except (ConfigException, OSError, ValueError) as exc:
            raise NoCluster(f"cannot use kubeconfig {path}: {exc}") from exc
        return
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise NoCluster(
            "no cluster: set KUBECONFIG (or run `make cluster` for the local one)"
        ) from exc


def api_client() -> ApiClient:
    """A client for the configured cluster."""
    load()
    return client.ApiClient()


def server_url() -> str:
    """The API server's URL in the configuration ``load`` read (as configured so far).

    It does not load a configuration itself: it also names the cluster in
    messages about a connection that failed, where loading could fail again.
    """
    return str(client.Configuration.get_default_copy().host)


def client_for(kubeconfig: Path) -> ApiClient:
    """A client for the cluster one kubeconfig file names, leaving the default alone."""
    api: ApiClient = cast(Any, config).new_client_from_config(config_file=str(kubeconfig))
    return api


def plain(obj: object) -> Any:
    """A client model (``V1Pod``, a list, ...) as the plain JSON the API server sent."""
    return _serializer().sanitize_for_serialization(obj)


@functools.cache
def _serializer() -> Any:
    return client.ApiClient(client.Configuration())


def current_namespace() -> str:
    """The namespace of the kubeconfig's current context, else ``default``."""
    try:
        _, active = cast(Any, config).list_kube_config_contexts()
    except Exception:  # no kubeconfig (in-cluster): fall through
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


def _or_configured(api: ApiClient | None) -> ApiClient:
    return api if api is not None else api_client()


def core(api: ApiClient | None = None) -> Any:
    """``CoreV1Api``: pods, Secrets, ConfigMaps, namespaces, Events."""
    return client.CoreV1Api(_or_configured(api))


def apps(api: ApiClient | None = None) -> Any:
    """``AppsV1Api``: Deployments, StatefulSets, DaemonSets."""
    return client.AppsV1Api(_or_configured(api))


def batch(api: ApiClient | None = None) -> Any:
    """``BatchV1Api``: the build and test Jobs."""
    return client.BatchV1Api(_or_configured(api))


def custom(api: ApiClient | None = None) -> Any:
    """``CustomObjectsApi``: shakedown's own kinds."""
    return client.CustomObjectsApi(_or_configured(api))


def apiextensions(api: ApiClient | None = None) -> Any:
    """``ApiextensionsV1Api``: installing the CRDs."""
    return client.ApiextensionsV1Api(_or_configured(api))


def rbac(api: ApiClient | None = None) -> Any:
    """``RbacAuthorizationV1Api``: Roles and bindings (the tests' limited users)."""
    return client.RbacAuthorizationV1Api(_or_configured(api))


def coordination(api: ApiClient | None = None) -> Any:
    """``CoordinationV1Api``: Leases."""
    return client.CoordinationV1Api(_or_configured(api))


def networking(api: ApiClient | None = None) -> Any:
    """NetworkPolicies."""
    return client.NetworkingV1Api(_or_configured(api))


def dynamic(api: ApiClient | None = None) -> Any:
    """A ``DynamicClient``: any kind by apiVersion and kind (examples, manifests)."""
    return cast(Any, _dynamic).DynamicClient(_or_configured(api))


def request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    timeout: float | tuple[float, float],
    body: Any = None,
    query: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> Any:
    """``method path`` with a JSON body over ``api`` (its credentials and TLS), for any kind by
    path without the typed classes; the response is returned unread, so each caller picks its
    own timeout and turns error statuses into its own exception."""
    serialized = api.param_serialize(
        method,
        path,
        query_params=list((query or {}).items()),
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    return api.call_api(*serialized, _request_timeout=timeout)


def watch() -> Any:
    """A fresh ``Watch``: ``watch().stream(list_fn, ...)`` yields the events of a list call."""
    return cast(Any, _watch).Watch()
