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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from kubernetes import client, config
from kubernetes import dynamic as _dynamic
from kubernetes import watch as _watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from shakedown.adapters import apiserver, credentials

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
    "connection",
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


#: The kubeconfig that will be used, if any: the same file the operator's own client reads.
kubeconfig_path = credentials.kubeconfig_path


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


def connection(api: ApiClient) -> apiserver.Connection:
    """The operator's JSON connection (``adapters.apiserver``) with ``api``'s server and
    credentials, for code that holds a library client and calls the operator's adapters."""
    cfg = api.configuration
    token = str((cfg.api_key or {}).get("authorization") or "")
    where = credentials.Endpoint(
        server=str(cfg.host).rstrip("/"),
        ca_file=cfg.ssl_ca_cert or None,
        insecure=not cfg.verify_ssl,
        cert_data=Path(cfg.cert_file).read_bytes() if cfg.cert_file else None,
        key_data=Path(cfg.key_file).read_bytes() if cfg.key_file else None,
        token=token.removeprefix("Bearer ").strip() or None,
    )
    return apiserver.Connection(where)


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


class Factory(Protocol):
    """``factory(api)`` an API object on ``api``; ``factory()`` on the configured cluster."""

    def __call__(self, api: ApiClient | None = None) -> Any: ...


def _factory(api_class: Callable[[ApiClient], Any]) -> Factory:
    def make(api: ApiClient | None = None) -> Any:
        return api_class(api if api is not None else api_client())

    return make


#: ``CoreV1Api``: pods, Secrets, ConfigMaps, namespaces, Events.
core = _factory(client.CoreV1Api)
#: ``AppsV1Api``: Deployments, StatefulSets, DaemonSets.
apps = _factory(client.AppsV1Api)
#: ``BatchV1Api``: the build and test Jobs.
batch = _factory(client.BatchV1Api)
#: ``CustomObjectsApi``: shakedown's own kinds.
custom = _factory(client.CustomObjectsApi)
#: ``ApiextensionsV1Api``: installing the CRDs.
apiextensions = _factory(client.ApiextensionsV1Api)
#: ``RbacAuthorizationV1Api``: Roles and bindings (the tests' limited users).
rbac = _factory(client.RbacAuthorizationV1Api)
#: ``CoordinationV1Api``: Leases.
coordination = _factory(client.CoordinationV1Api)
#: ``AuthorizationV1Api``: what the operator's own credentials may do.
authorization = _factory(client.AuthorizationV1Api)
#: ``NetworkingV1Api``: NetworkPolicies.
networking = _factory(client.NetworkingV1Api)
#: A ``DynamicClient``: any kind by apiVersion and kind (examples, manifests).
dynamic = _factory(cast(Any, _dynamic).DynamicClient)


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
