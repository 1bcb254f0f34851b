"""procs.terminate: how tests, benchmarks and the demo stop the children they hold."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time

from shakedown.localcluster import procs

#: A child that says it is ready, then sleeps; with ``ignore`` it shrugs off SIGTERM.
_CHILD = (
    "import signal, sys, time\n"
    "if sys.argv[1] == 'ignore':\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def _started(mode: str) -> subprocess.Popen[str]:
    """A child whose signal handling is set up (it printed ``ready``), within 30 s."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    assert ready, "child did not start"
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_a_child_that_obeys_sigterm_ends_by_it() -> None:
    proc = _started("obey")
    procs.terminate(proc)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    stubborn, obedient = _started("ignore"), _started("obey")
    procs.terminate(stubborn, obedient, grace=0.5)
    assert stubborn.returncode == -signal.SIGKILL
    assert obedient.returncode == -signal.SIGTERM


def test_a_child_that_already_ended_is_left_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    procs.terminate(proc)
    assert proc.returncode == 0
