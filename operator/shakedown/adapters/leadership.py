"""Lease-based leader election around the whole operator.

``shakedown run --leader-election`` calls ``Elector.acquire`` before kopf
starts: a standby does not watch, reconcile or write anything but waits for the
Lease (watching that one Lease, so it costs one long-running request, not a
poll). Once it holds the Lease, a renewer thread writes it every retry period,
and a watchdog thread ends the process the moment the leader could no longer
prove it renewed within the renew deadline: cut off from the API server, or
paused and resumed after the others took over. Ending the process, not pausing
kopf, is the fence: nothing of the old leader is left to act, and its
Deployment restarts it as a standby. The decisions (and why they are safe) are
in ``planning.leadership``.

Why not kopf's peering: its peers only pause when they see a peer of higher
priority, and a peer that cannot reach the API server never learns it should
stop, so under a partition two replicas act at once. It also needs its own
CRDs.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from shakedown.adapters.apiserver import ApiError, Connection
from shakedown.adapters.leaserest import LeaseClient
from shakedown.metrics import leadership as leader_metrics
from shakedown.planning.leadership import (
    Create,
    Record,
    Sighting,
    Take,
    Timing,
    candidate_move,
    leader_may_act,
    renew_due,
)

log = logging.getLogger("shakedown.leadership")

#: Exit status of a leader that lost the Lease (or could not renew it in time).
LOST_EXIT = 3
WATCHDOG_PERIOD = 0.1


def identity() -> str:
    """Unique per process: a restarted replica is a new candidate, never the old leader."""
    return f"{socket.gethostname()}_{os.getpid()}_{secrets.token_hex(3)}"


def _record(lease: dict[str, Any]) -> Record:
    spec = lease.get("spec") or {}
    return Record(
        holder=str(spec.get("holderIdentity") or ""),
        version=str(lease["metadata"]["resourceVersion"]),
        duration=float(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lost() -> None:
    os._exit(LOST_EXIT)


class Elector:
    """One candidate for the Lease ``namespace/name``."""

    def __init__(
        self,
        conn: Connection,
        namespace: str,
        name: str,
        *,
        timing: Timing | None = None,
        me: str | None = None,
        on_lost: Callable[[], None] = _lost,
    ) -> None:
        self.leases = LeaseClient(conn, namespace, name)
        self.namespace, self.name = namespace, name
        self.timing = timing or Timing()
        problem = self.timing.problem()
        if problem:
            raise ValueError(f"leader election timing: {problem}")
        self.me = me or identity()
        self.on_lost = on_lost
        self._changed = threading.Condition()
        self._seen: Sighting | None = None
        self._stop_watch = threading.Event()
        self._version = ""  # resourceVersion of our last successful write
        self._acquired = ""  # acquireTime we wrote
        self._transitions = 0
        self._renewed_sent = 0.0  # monotonic time that write was sent
        self._leading = threading.Event()
        self._released = threading.Event()
        self._writing = threading.Lock()  # a renewal and the release never cross
        leader_metrics.LEADER.set(0)

    # ------------------------------------------------------------------ standby
    def acquire(self) -> None:
        """Block until this process holds the Lease; then keep it (threads) until exit."""
        log.info("standing by for Lease %s/%s as %s", self.namespace, self.name, self.me)
        watcher = threading.Thread(target=self._watch, name="lease-watch", daemon=True)
        watcher.start()
        while not self._leading.is_set():
            with self._changed:
                while self._seen is None:
                    self._changed.wait()
                seen = self._seen
            move = candidate_move(self.me, seen, time.monotonic())
            if isinstance(move, Create | Take):
                if self._write(move):
                    break
                with self._changed:  # someone was faster: wait to see their write
                    if self._seen is seen:
                        self._changed.wait(self.timing.retry_period)
                continue
            with self._changed:
                if self._seen is seen:
                    self._changed.wait(max(0.0, move.until - time.monotonic()))
        self._stop_watch.set()
        leader_metrics.LEADER.set(1)
        leader_metrics.ACQUISITIONS.inc()
        log.info("leading: holding Lease %s/%s as %s", self.namespace, self.name, self.me)
        threading.Thread(target=self._renew, name="lease-renew", daemon=True).start()
        threading.Thread(target=self._watchdog, name="lease-watchdog", daemon=True).start()

    def _see(self, record: Record | None) -> None:
        with self._changed:
            old = self._seen
            if old is None or old.record != record:
                self._seen = Sighting(record, time.monotonic())
                self._changed.notify_all()

    def _watch(self) -> None:
        """Keep ``_seen`` current: list the one Lease, then watch it, until leading."""
        while not self._stop_watch.is_set():
            try:
                lease, since = self.leases.listed()
                self._see(_record(lease) if lease else None)
                for kind, lease in self.leases.watch(since):
                    if self._stop_watch.is_set():
                        break
                    if kind == "DELETED":
                        self._see(None)
                    elif kind in ("ADDED", "MODIFIED"):
                        self._see(_record(lease))
            except Exception as exc:
                log.warning("watching Lease %s/%s: %s", self.namespace, self.name, exc)
                self._stop_watch.wait(self.timing.retry_period)

    def _body(self, version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if version is not None:
            metadata["resourceVersion"] = version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.me,
                "leaseDurationSeconds": max(1, round(self.timing.lease_duration)),
                "acquireTime": self._acquired,
                "renewTime": _now(),
                "leaseTransitions": self._transitions,
            },
        }

    def _write(self, move: Create | Take) -> bool:
        """Create or take the Lease; False when someone else was faster (look again)."""
        sent = time.monotonic()
        self._acquired = _now()
        try:
            if isinstance(move, Create):
                self._transitions = 0
                lease = self.leases.create(self._body(None))
            else:
                self._transitions = move.transitions
                lease = self.leases.replace(self._body(move.version))
        except ApiError as exc:
            if exc.status not in (404, 409):
                log.warning("cannot take Lease %s/%s: %s", self.namespace, self.name, exc)
                time.sleep(self.timing.retry_period)
            return False
        except Exception as exc:
            log.warning("cannot take Lease %s/%s: %s", self.namespace, self.name, exc)
            time.sleep(self.timing.retry_period)
            return False
        self._version, self._renewed_sent = str(lease["metadata"]["resourceVersion"]), sent
        self._leading.set()
        return True

    # ------------------------------------------------------------------ leader
    def _renew(self) -> None:
        """One write per retry period, conditional on our last version of the Lease."""
        while not self._released.is_set():
            pause = renew_due(self._renewed_sent, self.timing) - time.monotonic()
            if self._released.wait(max(0.0, pause)):
                return
            sent = time.monotonic()
            # A hung connection gets a fresh try well before the deadline.
            left = self.timing.renew_deadline - (sent - self._renewed_sent)
            left = max(0.5, min(left, 2 * self.timing.retry_period))
            try:
                with self._writing:
                    if self._released.is_set():
                        return
                    lease = self.leases.replace(self._body(self._version), timeout=left)
                    self._version = str(lease["metadata"]["resourceVersion"])
                    self._renewed_sent = sent
            except ApiError as exc:
                if exc.status == 409 and self._still_ours():
                    continue  # someone touched the Lease (a label, say): renew on its version
                if exc.status in (404, 409):
                    log.critical("lost Lease %s/%s", self.namespace, self.name)
                    self.on_lost()
                    self._released.set()
                    return
                log.warning("cannot renew Lease %s/%s: %s", self.namespace, self.name, exc)
                self._released.wait(min(0.5, self.timing.retry_period))
                continue
            except Exception as exc:
                log.warning("cannot renew Lease %s/%s: %s", self.namespace, self.name, exc)
                self._released.wait(min(0.5, self.timing.retry_period))

    def _still_ours(self) -> bool:
        try:
            lease = self.leases.get(timeout=5)
        except Exception:
            return False
        if lease is None or _record(lease).holder != self.me:
            return False
        self._version = _record(lease).version
        return True

    def _watchdog(self) -> None:
        while not self._released.is_set():
            if not leader_may_act(self._renewed_sent, time.monotonic(), self.timing):
                log.critical(
                    "no renewal of Lease %s/%s for %gs: stopping so the standby can act alone",
                    self.namespace,
                    self.name,
                    self.timing.renew_deadline,
                )
                self.on_lost()
                self._released.set()
                return
            time.sleep(WATCHDOG_PERIOD)

    def release(self) -> None:
        """After a clean stop (nothing acts any more): hand the Lease over at once."""
        if not self._leading.is_set() or self._released.is_set():
            return
        with self._writing:
            self._released.set()
        leader_metrics.LEADER.set(0)
        if not leader_may_act(self._renewed_sent, time.monotonic(), self.timing):
            return
        body = self._body(self._version)
        body["spec"]["holderIdentity"] = ""
        try:
            self.leases.replace(body, timeout=5)
            log.info("released Lease %s/%s", self.namespace, self.name)
        except Exception as exc:
            log.warning("cannot release Lease %s/%s: %s", self.namespace, self.name, exc)


@contextlib.contextmanager
def standby_health(url: str | None) -> Iterator[None]:
    """Answer the liveness URL while standing by (kopf serves it once it runs).

    A standby is healthy: without this its liveness probe would fail and the
    kubelet would restart it over and over.
    """
    if not url:
        yield
        return
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path or "/"

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path.split("?")[0] == path
            body = b'{"standby": true}' if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer((parsed.hostname or "", parsed.port or 80), Health)
    thread = threading.Thread(target=server.serve_forever, name="standby-health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
