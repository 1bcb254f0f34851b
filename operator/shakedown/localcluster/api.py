"""Minimal HTTPS calls to the local API server, authenticated as the admin.

``up`` and ``status`` need a handful of reads (``/readyz``, the node) before
any Kubernetes client library is configured; the standard library is enough.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from shakedown.localcluster.layout import Layout


def _context(layout: Layout) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    ctx.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
    return ctx


def request(
    layout: Layout, path: str, *, method: str = "GET", body: Any = None, timeout: float = 5
) -> tuple[int, bytes]:
    """(status, body) of one API call; status 0 when the server cannot be reached."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        layout.network.apiserver_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=_context(layout), timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def get_json(layout: Layout, path: str) -> dict[str, Any] | None:
    status, body = request(layout, path)
    if status != 200:
        return None
    data: dict[str, Any] = json.loads(body)
    return data


def readyz(layout: Layout) -> bool:
    return request(layout, "/readyz", timeout=3)[0] == 200


def node_ready(layout: Layout) -> bool:
    node = get_json(layout, f"/api/v1/nodes/{layout.network.node_name}")
    if node is None:
        return False
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def answers(url: str, *, timeout: float = 3) -> bool:
    """Whether a plain HTTP endpoint (the registry, etcd's /health) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def registry_up(layout: Layout) -> bool:
    return answers(f"http://{layout.network.registry}/v2/")
