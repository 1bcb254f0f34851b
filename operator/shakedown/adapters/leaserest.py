"""The few requests leader election makes on its one Lease, as plain JSON.

Over the configured ``ApiClient`` (``kubeclient.api_client()``) without the
typed API classes: each request has its own timeout (a renewal must not hang
past the renew deadline), and the watch is a line-by-line read of the
streaming response, so the standby costs one long-running request, not a poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from shakedown.adapters import kubeclient

PREFIX = "/apis/coordination.k8s.io/v1"


class LeaseError(Exception):
    """The API server answered with an error (``status``: its HTTP status)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


class LeaseClient:
    """GET, list, watch, create and replace of ``namespace/name`` (a Lease)."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        self.api, self.namespace, self.name = api, namespace, name

    def _collection(self) -> str:
        return f"{PREFIX}/namespaces/{self.namespace}/leases"

    def _call(
        self,
        method: str,
        path: str,
        *,
        timeout: float | tuple[float, float],
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        return kubeclient.request(self.api, method, path, timeout=timeout, body=body, query=query)

    def _json(self, response: Any) -> dict[str, Any]:
        data: bytes = response.read()
        if not 200 <= response.status <= 299:
            raise LeaseError(response.status, _reason(data) or str(response.reason))
        result: dict[str, Any] = json.loads(data)
        return result

    def get(self, *, timeout: float = 10) -> dict[str, Any] | None:
        try:
            path = f"{self._collection()}/{self.name}"
            return self._json(self._call("GET", path, timeout=timeout))
        except LeaseError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, body: Mapping[str, Any], *, timeout: float = 10) -> dict[str, Any]:
        return self._json(self._call("POST", self._collection(), body=body, timeout=timeout))

    def replace(self, body: Mapping[str, Any], *, timeout: float = 10) -> dict[str, Any]:
        path = f"{self._collection()}/{self.name}"
        return self._json(self._call("PUT", path, body=body, timeout=timeout))

    def listed(self, *, timeout: float = 10) -> tuple[dict[str, Any] | None, str]:
        """The Lease (or None) and the list's resourceVersion to watch from."""
        query = {"fieldSelector": f"metadata.name={self.name}"}
        result = self._json(self._call("GET", self._collection(), query=query, timeout=timeout))
        items = result.get("items") or []
        return (items[0] if items else None), str(result["metadata"]["resourceVersion"])

    def watch(self, since: str, *, seconds: int = 300) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, Lease) events after resourceVersion ``since``, for about ``seconds``."""
        query = {
            "fieldSelector": f"metadata.name={self.name}",
            "watch": "true",
            "resourceVersion": since,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "false",
        }
        response = self._call("GET", self._collection(), query=query, timeout=(10, seconds + 30))
        if not 200 <= response.status <= 299:
            self._json(response)  # raises
        raw = response.response
        try:
            buffer = b""
            for chunk in raw.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") == "ERROR":
                            status = event.get("object") or {}
                            raise LeaseError(int(status.get("code", 500)), status.get("reason", ""))
                        yield str(event.get("type")), event.get("object") or {}
        finally:
            raw.release_conn()


def _reason(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        return data.decode("utf-8", "replace")[:200]
