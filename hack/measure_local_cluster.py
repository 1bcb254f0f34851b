"""Measure the local cluster: warm start to /readyz and to node Ready, and memory at rest.

Runs a second cluster in a private network namespace and state directory (so
a cluster already running for other work is not touched), starts it with the
binaries and images already cached, waits a while for it to settle, sums the
RSS of every process that belongs to it (components, containerd shims, pod
processes), and stops it. Usage (as root, from the repository root):

    .venv/bin/python hack/measure_local_cluster.py [--rest SECONDS] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest", type=float, default=60, help="seconds to settle before RSS")
    parser.add_argument("--runs", type=int, default=3, help="warm starts to time")
    args = parser.parse_args()
    shakedown = str(Path(sys.executable).with_name("shakedown"))
    base = Path(tempfile.mkdtemp(prefix="sd-measure-"))
    netns = base / "netns"
    netns.touch()
    subprocess.run(["unshare", f"--net={netns}", "true"], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "REGISTRY")}
    env |= {"SHAKEDOWN_STATE": str(base / "state"), "SHAKEDOWN_CGROUP_ROOT": "shakedown-measure"}

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--net={netns}", *cmd],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    try:
        run("ip", "link", "set", "lo", "up")
        for i in range(args.runs):
            started = time.monotonic()
            up = run(shakedown, "cluster", "up")
            total = time.monotonic() - started
            if up.returncode != 0:
                print(up.stdout, up.stderr)
                return 1
            readyz = re.search(r"API server ready in ([\d.]+)s", up.stdout)
            node = re.search(r"node ready in ([\d.]+)s", up.stdout)
            dns = re.search(r"cluster DNS ready in ([\d.]+)s", up.stdout)
            print(
                f"run {i + 1}: /readyz {readyz.group(1) if readyz else '?'}s, "
                f"node Ready {node.group(1) if node else '?'}s, "
                f"DNS ready {dns.group(1) if dns else '?'}s, whole command {total:.1f}s"
            )
            if i + 1 < args.runs:
                run(shakedown, "cluster", "down")
        time.sleep(args.rest)
        status = run(shakedown, "cluster", "status")
        print(status.stdout.strip())
    finally:
        down = run(shakedown, "cluster", "down")
        print(down.stdout.strip().splitlines()[-1] if down.stdout.strip() else down.stderr)
        subprocess.run(["umount", str(netns)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
