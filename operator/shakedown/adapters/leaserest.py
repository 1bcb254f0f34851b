"""The few requests leader election makes on its one Lease, as plain JSON.

Over the operator's own connection (``adapters.apiserver``): each request has
its own timeout (a renewal must not hang past the renew deadline), and the
watch is a line-by-line read of the streaming response, so the standby costs
one long-running request, not a poll.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Unpack

from shakedown.adapters.apiserver import ApiError, Connection, Options

PREFIX = "/apis/coordination.k8s.io/v1"


class LeaseClient:
    """GET, list, watch, create and replace of ``namespace/name`` (a Lease)."""

    def __init__(self, conn: Connection, namespace: str, name: str) -> None:
        self.conn, self.namespace, self.name = conn, namespace, name

    def _collection(self) -> str:
        return f"{PREFIX}/namespaces/{self.namespace}/leases"

    def _json(self, method: str, path: str, **options: Unpack[Options]) -> dict[str, Any]:
        """The answer as JSON; an error status is ``ApiError`` (0: no answer at all)."""
        result: dict[str, Any] = self.conn.call(method, path, **options)
        return result

    def get(self, *, timeout: float = 10) -> dict[str, Any] | None:
        try:
            return self._json("GET", f"{self._collection()}/{self.name}", timeout=timeout)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, body: Mapping[str, Any], *, timeout: float = 10) -> dict[str, Any]:
        return self._json("POST", self._collection(), body=body, timeout=timeout)

    def replace(self, body: Mapping[str, Any], *, timeout: float = 10) -> dict[str, Any]:
        path = f"{self._collection()}/{self.name}"
        return self._json("PUT", path, body=body, timeout=timeout)

    def listed(self, *, timeout: float = 10) -> tuple[dict[str, Any] | None, str]:
        """The Lease (or None) and the list's resourceVersion to watch from."""
        query = {"fieldSelector": f"metadata.name={self.name}"}
        result = self._json("GET", self._collection(), query=query, timeout=timeout)
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
        stream = self.conn.stream(self._collection(), query, timeout=seconds + 30)
        try:
            for event in stream:
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiError(int(status.get("code", 500)), str(status.get("reason", "")))
                yield str(event.get("type")), event.get("object") or {}
        finally:
            stream.close()
