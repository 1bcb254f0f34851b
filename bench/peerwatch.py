"""The I/O side of ``bench/peers.py``: a pod watch that times failure and recovery,
and the controller processes it starts (stopped by their PID only)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes.client import ApiClient

from peerskit import (
    APP,
    failure_start,
    is_live,
    is_ready,
    production_healthy,
    ready_transition,
    revision,
)
from shakedown.adapters import kubeclient
from shakedown.localcluster import procs


class PodWatch:
    """Watches the app's pods in one namespace and notes, with local receive times:
    the first pod of a new revision turning NotReady after it had been Ready, the first
    moment after that when production is healthy on the old revision, and any pod
    turning NotReady after that (a relapse)."""

    def __init__(self, api: ApiClient, namespace: str, replicas: int) -> None:
        self.api, self.namespace, self.replicas = api, namespace, replicas
        self.lock = threading.Lock()
        self.pods: dict[str, dict[str, Any]] = {}
        self.ready: set[str] = set()
        self.old_revisions: set[str] = set()
        self.armed = False
        self.failed_at: float | None = None
        self.failed_pod = ""
        self.healthy_at: float | None = None
        self.relapsed_at: float | None = None
        self.relapsed_pod = ""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodWatch:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()

    def healthy_now(self) -> bool:
        """Full strength and all Ready (before the change: any revision)."""
        with self.lock:
            pods = list(self.pods.values())
            revisions = self.old_revisions or {revision(p) for p in pods}
        return production_healthy(pods, replicas=self.replicas, old_revisions=revisions)

    def arm(self) -> None:
        """The change is about to be applied: what runs now is the old revision."""
        with self.lock:
            self.old_revisions = {revision(p) for p in self.pods.values() if is_live(p)}
            self.armed = True

    def _run(self) -> None:
        core = kubeclient.core(self.api)
        while not self.stop.is_set():
            listed = core.list_namespaced_pod(self.namespace, label_selector=f"app={APP}")
            with self.lock:
                self.pods = {}
            for pod in listed.items:
                self._saw("ADDED", kubeclient.plain(pod))
            stream = kubeclient.watch().stream(
                core.list_namespaced_pod,
                self.namespace,
                label_selector=f"app={APP}",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=20,
            )
            for event in stream:
                self._saw(event["type"], kubeclient.plain(event["object"]))
                if self.stop.is_set():
                    break

    def _saw(self, kind: str, pod: dict[str, Any]) -> None:
        now = time.time()
        name = pod["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(name, None)
                self.ready.discard(name)
            else:
                self.pods[name] = pod
            was_ready = name in self.ready
            if kind != "DELETED" and is_ready(pod):
                self.ready.add(name)
            elif kind != "DELETED" and was_ready:
                self.ready.discard(name)
                self._turned_not_ready(pod, now)
            self._judge(now)

    def _turned_not_ready(self, pod: dict[str, Any], now: float) -> None:
        if not self.armed or not is_live(pod):
            return
        if self.failed_at is None and revision(pod) not in self.old_revisions:
            transition = ready_transition(pod)
            self.failed_at = failure_start(transition, now) if transition else now
            self.failed_pod = pod["metadata"]["name"]
        elif self.healthy_at is not None and self.relapsed_at is None:
            self.relapsed_at = now
            self.relapsed_pod = f"{pod['metadata']['name']} (revision {revision(pod)})"

    def _judge(self, now: float) -> None:
        if self.failed_at is None or self.healthy_at is not None:
            return
        if production_healthy(
            self.pods.values(), replicas=self.replicas, old_revisions=self.old_revisions
        ):
            self.healthy_at = now


def http_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


class Process:
    """A child process with its output in a log file; stopped by its PID on exit."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.command, self.log, self.env = command, log, env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        return self

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.command[0]} exited; its log ({self.log}) ends:\n{tail}")
        return True

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None:
            procs.terminate(self.proc)
