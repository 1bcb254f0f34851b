"""Detached component processes, tracked by PID files.

Each component runs in a session of its own (it outlives the ``shakedown``
command that started it) with its output in ``logs/<name>.log``. The PID file
holds the PID and the process's start time, so a PID the kernel reused for
another program is never signalled. Stopping is by PID only: SIGTERM, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shakedown.localcluster.errors import ClusterError

#: A component's log is rotated (one old generation kept) when it starts beyond this size.
MAX_LOG_BYTES = 64 << 20


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None  # a zombie is as good as gone
    return int(fields[19])


@dataclass(frozen=True)
class Tracked:
    """A process started by the cluster: its name, PID and start time."""

    name: str
    pid: int
    started: int

    def alive(self) -> bool:
        return start_time(self.pid) == self.started

    def rss_kib(self) -> int:
        return rss_kib(self.pid)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def pid_file(pids: Path, name: str) -> Path:
    return pids / f"{name}.pid"


def read(pids: Path, name: str) -> Tracked | None:
    path = pid_file(pids, name)
    try:
        pid_s, started_s = path.read_text().split()
        return Tracked(name, int(pid_s), int(started_s))
    except (FileNotFoundError, ValueError):
        return None


def tracked(pids: Path) -> Iterator[Tracked]:
    """Every process that has a PID file, alive or not."""
    if not pids.is_dir():
        return
    for path in sorted(pids.glob("*.pid")):
        found = read(pids, path.stem)
        if found is not None:
            yield found


def start(
    name: str,
    args: Sequence[str],
    *,
    pids: Path,
    logs: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Tracked:
    """Start ``args`` detached, logging to ``logs/<name>.log``; record its PID."""
    pids.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    if log.exists() and log.stat().st_size > MAX_LOG_BYTES:
        log.replace(log.with_suffix(".log.1"))  # keep one previous generation
    with log.open("ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(args)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
                close_fds=True,
            )
        except OSError as exc:
            raise ClusterError(f"cannot start {name} ({args[0]}): {exc.strerror}") from None
    started = start_time(proc.pid)
    if started is None:
        proc.wait()
        raise ClusterError(exited_message(name, log, proc.returncode))
    pid_file(pids, name).write_text(f"{proc.pid} {started}\n")
    return Tracked(name, proc.pid, started)


def last_log_line(log: Path) -> str:
    """The last informative line of a log (skipping blank and banner lines)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith("===="):
            return text[:300]
    return "(empty log)"


def exited_message(name: str, log: Path, code: int | None = None) -> str:
    how = f" with code {code}" if code is not None else ""
    return f"{name} exited early{how}: {last_log_line(log)} (full log: {log})"


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def reap() -> None:
    """Collect exited children of this process so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_all(procs: Sequence[Tracked], *, grace: float = 10.0) -> list[Tracked]:
    """SIGTERM every live process, SIGKILL what is left after ``grace``; return survivors."""
    live = [p for p in procs if p.alive()]
    for proc in live:
        signal_pid(proc.pid, signal.SIGTERM)
    live = _still_alive(live, seconds=grace)
    for proc in live:
        signal_pid(proc.pid, signal.SIGKILL)
    return _still_alive(live, seconds=5)


def terminate(*popens: subprocess.Popen[Any], grace: float = 20.0) -> None:
    """SIGTERM the running ones of our own children, SIGKILL what is left after ``grace``.

    For processes this one started and still holds (a test's operator, a benchmark's
    controller): SIGTERM lets them clean up, the SIGKILL bounds how long that may take,
    and every wait has a deadline, so a stuck child never holds its parent forever.
    """
    running = [p for p in popens if p.poll() is None]
    for popen in running:
        popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for popen in running:
        try:
            popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)


def _still_alive(live: list[Tracked], *, seconds: float) -> list[Tracked]:
    """Reap exited children until all of ``live`` are gone or ``seconds`` pass; the rest."""
    deadline = time.monotonic() + seconds
    while live and time.monotonic() < deadline:
        reap()
        live = [p for p in live if p.alive()]
        if live:
            time.sleep(0.1)
    return live


def processes_matching(predicate: str) -> list[Tracked]:
    """Processes whose command line contains ``predicate`` (to find our shims by socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if predicate in cmdline:
            started = start_time(int(entry.name))
            if started is not None:
                found.append(Tracked(cmdline.split(" ")[0], int(entry.name), started))
    return found


def port_free(address: str, port: int) -> bool:
    """Whether a server could listen on ``address:port`` now.

    Bound with SO_REUSEADDR, like the Go servers: a connection in TIME_WAIT does
    not block the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> str:
    """Who listens on TCP ``port`` (from ``ss``), for the 'port in use' message."""
    proc = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    )
    line = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    if "users:((" in line:
        return line.split("users:((", 1)[1].rstrip(")")
    return "another process"
