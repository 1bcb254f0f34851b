"""Where the API server is and how the operator proves who it is, from a kubeconfig or the pod.

Apart from ``adapters.apiserver`` (how requests travel) because it answers a
different question, and both the operator's client and the CLI's library
client (``adapters.kubeclient``) ask it, so the two read one kubeconfig the
same way.

What it supports, and why that is enough for an operator: the in-cluster
ServiceAccount (its token re-read when the kubelet rotates it), and a
kubeconfig's current context with a CA, a client certificate, a bearer token or
token file, or an ``exec`` credential plugin (``ExecCredential`` with a token or
a client certificate, asked again when it expires). Anything else is refused
with a one-line ``NoCluster`` naming what is missing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

#: The in-cluster ServiceAccount's files.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Seconds an exec plugin may take.
EXEC_TIMEOUT = 30


class NoCluster(Exception):
    """No usable kubeconfig and no in-cluster ServiceAccount: nothing to talk to."""


@dataclass
class Endpoint:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    exec_config: Mapping[str, Any] | None = None
    _token_read: tuple[float, str] | None = field(default=None, repr=False)
    _exec_until: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bearer(self) -> str | None:
        """The bearer token to send now (a token file is re-read when it changes)."""
        if self.exec_config is not None:
            self._refresh_exec()
        if self.token_file:
            with contextlib.suppress(OSError):
                mtime = os.stat(self.token_file).st_mtime
                if self._token_read is None or self._token_read[0] != mtime:
                    text = Path(self.token_file).read_text().strip()
                    self._token_read = (mtime, text)
            return self._token_read[1] if self._token_read else None
        return self.token

    def _refresh_exec(self) -> None:
        with self._lock:
            if time.time() < self._exec_until:
                return
            found = run_exec_plugin(self.exec_config or {})
            status = found.get("status") or {}
            self.token = status.get("token") or None
            if status.get("clientCertificateData"):
                self.cert_data = str(status["clientCertificateData"]).encode()
                self.key_data = str(status.get("clientKeyData") or "").encode()
            expires = status.get("expirationTimestamp")
            self._exec_until = _epoch(expires) - 60 if expires else float("inf")

    def ssl_context(self) -> ssl.SSLContext:
        if self.exec_config is not None:
            self._refresh_exec()  # a plugin may hand out a client certificate
        context = ssl.create_default_context(
            cafile=self.ca_file, cadata=self.ca_data.decode() if self.ca_data else None
        )
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_data and self.key_data:
            _load_chain(context, self.cert_data, self.key_data)
        return context

    def kopf_login(self) -> dict[str, Any]:
        """The fields of ``kopf.ConnectionInfo`` for these credentials (kopf logs in as we do)."""
        token = self.bearer()
        return {
            "server": self.server,
            "ca_path": self.ca_file,
            "ca_data": self.ca_data,
            "insecure": self.insecure or None,
            "certificate_data": self.cert_data,
            "private_key_data": self.key_data,
            "token": token,
            "scheme": "Bearer" if token else None,
            "default_namespace": None,
            "expiration": datetime.fromtimestamp(self._exec_until, UTC)
            if self.exec_config is not None and self._exec_until != float("inf")
            else None,
        }


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """``load_cert_chain`` reads files only: write both to a private directory, load, delete."""
    with tempfile.TemporaryDirectory(prefix="shakedown-tls-") as folder:
        cert_path, key_path = Path(folder, "tls.crt"), Path(folder, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            path.touch(mode=0o600)
            path.write_bytes(data)
        context.load_cert_chain(str(cert_path), str(key_path))


def run_exec_plugin(config: Mapping[str, Any]) -> dict[str, Any]:
    """Run a kubeconfig ``exec`` plugin and return its ``ExecCredential``."""
    command = [str(config.get("command") or "")] + [str(a) for a in config.get("args") or []]
    env = dict(os.environ)
    for item in config.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value"))
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": config.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, timeout=EXEC_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NoCluster(f"kubeconfig exec plugin {command[0]!r} did not run: {exc}") from exc
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise NoCluster(
            f"kubeconfig exec plugin {command[0]!r} exited {done.returncode}: {said[0]}"
        )
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise NoCluster(f"kubeconfig exec plugin {command[0]!r} printed no JSON") from exc
    return result


def kubeconfig_path() -> Path | None:
    """The kubeconfig that will be used, if any (``KUBECONFIG``'s first file, ~/.kube/config)."""
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        return Path(env)
    default = Path.home() / ".kube" / "config"
    return default if default.exists() else None


def endpoint(kubeconfig: Path | None = None) -> Endpoint:
    """The configured cluster: a kubeconfig when there is one, else the in-cluster account."""
    path = kubeconfig or kubeconfig_path()
    if path is not None:
        return from_kubeconfig(path)
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.is_file():
        raise NoCluster("no cluster: set KUBECONFIG (or run `make cluster` for the local one)")
    if ":" in host:
        host = f"[{host}]"
    ca = SERVICE_ACCOUNT / "ca.crt"
    return Endpoint(
        server=f"https://{host}:{port}",
        ca_file=str(ca) if ca.is_file() else None,
        token_file=str(token),
    )


def from_kubeconfig(path: Path) -> Endpoint:
    """The current context of one kubeconfig file; ``NoCluster`` names what is missing."""
    if not path.is_file():
        raise NoCluster(f"KUBECONFIG names {path}, which does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
        return _from_config(config, path.parent)
    except NoCluster as exc:
        raise NoCluster(f"cannot use kubeconfig {path}: {exc}") from None
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        said = " ".join(str(exc).split())  # YAML errors point at the spot over several lines
        raise NoCluster(f"cannot use kubeconfig {path}: {said}") from exc


def _named(config: Mapping[str, Any], section: str, name: str, key: str) -> Mapping[str, Any]:
    for item in config.get(section) or []:
        if item.get("name") == name:
            found: Mapping[str, Any] = item.get(key) or {}
            return found
    raise NoCluster(f"no {key} named {name!r}")


def _from_config(config: Mapping[str, Any], base: Path) -> Endpoint:
    current = config.get("current-context")
    if not current:
        raise NoCluster("it sets no current-context")
    context = _named(config, "contexts", current, "context")
    cluster = _named(config, "clusters", str(context.get("cluster")), "cluster")
    user = _named(config, "users", str(context.get("user")), "user") if context.get("user") else {}

    def data(inline: str, file: str) -> bytes | None:
        if user.get(inline) or cluster.get(inline):
            return base64.b64decode(str(user.get(inline) or cluster.get(inline)))
        name = user.get(file) or cluster.get(file)
        return (base / str(name)).read_bytes() if name else None

    if not cluster.get("server"):
        raise NoCluster(f"cluster {context.get('cluster')!r} has no server")
    if user.get("auth-provider"):
        raise NoCluster("auth-provider users are not supported by `shakedown run`; use exec")
    ca_file = cluster.get("certificate-authority")
    return Endpoint(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=str(base / str(ca_file)) if ca_file else None,
        ca_data=base64.b64decode(cluster["certificate-authority-data"])
        if cluster.get("certificate-authority-data")
        else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_data=data("client-certificate-data", "client-certificate"),
        key_data=data("client-key-data", "client-key"),
        token=user.get("token") or None,
        token_file=str(base / str(user["tokenFile"])) if user.get("tokenFile") else None,
        exec_config=user.get("exec") or None,
    )
