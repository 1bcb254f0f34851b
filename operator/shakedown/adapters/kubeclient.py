"""One place that knows how to reach the cluster.

The operator, the CLI and the demo all find the cluster the same way: the file
``KUBECONFIG`` names (or ~/.kube/config), else the in-cluster service account.
When neither exists, ``NoCluster`` carries a one-line explanation for the user.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException


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


def api_client() -> client.ApiClient:
    """A client for the configured cluster."""
    load()
    return client.ApiClient()


def server_url() -> str:
    """The API server's URL in the configuration ``load`` read."""
    load()
    return str(client.Configuration.get_default_copy().host)
