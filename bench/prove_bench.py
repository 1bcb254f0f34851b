"""``shakedown prove`` against the same steps done by hand: wall time, side by side.

A pull request's InfraRollout (a ConfigMap change of the sample web app, with a
readiness and an HTTP smoke test) is proven on a real cluster (the local one
unless KUBECONFIG is set) in two ways, alternating, ``--rounds`` times each:

- **prove**: ``shakedown prove -f pr.yaml --id ...`` (validate, create the
  prove-only copy, follow it, report, delete it and wait for its shadow);
- **by hand**: what a CI script does without it, given the same prove-only
  copy already written: ``kubectl apply -f``, ``shakedown wait iro --for
  phase=Validated``, ``kubectl get -o yaml`` (collect), ``kubectl delete
  --wait`` and ``kubectl wait --for=delete`` on the shadow namespace.

Both wait for the same operator doing the same work, so the difference is
what ``prove`` adds: the dry runs and checks before, and its 1 s polling.

Run: ``.venv/bin/python bench/prove_bench.py [--rounds 3] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from benchkit import clean_up, wait
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube, apply_object
from shakedown.demo import operator_process
from shakedown.demo.infrarollout import sample_workload
from shakedown.planning.infrarollout.shadow import shadow_namespace_name
from shakedown.presentation.prove_plan import Manifest, prove_copy

REPO = Path(__file__).resolve().parents[1]
SHAKEDOWN = Path(sys.executable).with_name("shakedown")


def say(message: str) -> None:
    print(message, flush=True)


def rollout(message: str) -> dict[str, Any]:
    return {
        "apiVersion": "shakedown.dev/v1alpha1",
        "kind": "InfraRollout",
        "metadata": {"name": "web-change"},
        "spec": {
            "targets": [
                {"kind": "Deployment", "name": "web"},
                {"kind": "ConfigMap", "name": "web-config"},
                {"kind": "Service", "name": "web"},
            ],
            "change": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-config"},
                        "type": "merge",
                        "patch": {"data": {"MESSAGE": message}},
                    }
                ]
            },
            "shadow": {"ttl": "10m", "replicas": 1},
            "smokeTests": {
                "readyFor": "3s",
                "http": [
                    {
                        "name": "index",
                        "service": "web",
                        "port": 8080,
                        "path": "/index.html",
                        "expectBody": message,
                        "attempts": 5,
                    }
                ],
            },
            "timeout": "5m",
        },
    }


def timed(steps: list[list[str]], env: dict[str, str]) -> float:
    start = time.monotonic()
    for argv in steps:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])}: exit {proc.returncode}: {proc.stderr}")
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from shakedown.localcluster import cluster, images
    from shakedown.localcluster.layout import Layout

    if os.environ.get("KUBECONFIG"):
        kubeconfig = Path(os.environ["KUBECONFIG"])
        image = f"{os.environ['REGISTRY']}/shakedown/busybox:latest"
        kubectl = shutil.which("kubectl") or "kubectl"
    else:
        layout = Layout.default()
        cluster.acquire(layout, say=lambda m: say(f"  {m}"))
        kubeconfig = layout.kubeconfig
        image = images.build_busybox(layout, say=lambda m: None).ref
        kubectl = str(layout.binary("kubectl"))
    os.environ["SHAKEDOWN_PROBE_IMAGE"] = image  # the HTTP check's pod (inherited by the operator)
    api = kubeclient.client_for(kubeconfig)
    from shakedown.adapters.crds import install

    install(api)
    kube = Kube(kubeclient.connection(api))
    namespace = f"bench-prove-{secrets.token_hex(2)}"
    kube.create("Namespace", None, {"metadata": {"name": namespace}})
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    work = REPO / ".shakedown" / f"bench-{namespace}"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        for obj in sample_workload("web", image, replicas=1):
            apply_object(kube, namespace, obj)
        wait(
            lambda: (
                (kube.get("Deployment", namespace, "web") or {})
                .get("status", {})
                .get("readyReplicas")
            ),
            120,
        )
        with operator_process(kubeconfig, namespace, work / "operator.log"):
            for index in range(args.rounds):
                doc = rollout(f"v{index + 2}")
                pr = work / f"pr-{index}.yaml"
                pr.write_text(yaml.safe_dump(doc))
                prove = timed(
                    [
                        [
                            str(SHAKEDOWN),
                            "prove",
                            "-f",
                            str(pr),
                            "--id",
                            f"p{index}",
                            "-n",
                            namespace,
                        ]
                    ],
                    env,
                )
                copy = prove_copy(Manifest(str(pr), doc), prove_id=f"h{index}", namespace=namespace)
                name = copy["metadata"]["name"]
                hand_file = work / f"copy-{index}.yaml"
                hand_file.write_text(yaml.safe_dump(copy))
                shadow = shadow_namespace_name(namespace, name, 1)
                by_hand = timed(
                    [
                        [kubectl, "apply", "-f", str(hand_file)],
                        [
                            str(SHAKEDOWN),
                            "wait",
                            "iro",
                            name,
                            "-n",
                            namespace,
                            "--for",
                            "phase=Validated",
                            "--timeout",
                            "5m",
                        ],
                        [kubectl, "get", "iro", name, "-n", namespace, "-o", "yaml"],
                        [kubectl, "delete", "-f", str(hand_file), "--wait=true"],
                        [kubectl, "wait", "--for=delete", f"namespace/{shadow}", "--timeout=2m"],
                    ],
                    env,
                )
                rows.append({"round": index + 1, "prove": prove, "by_hand": by_hand})
                say(f"round {index + 1}: prove {prove:6.1f} s   by hand {by_hand:6.1f} s")
    finally:
        clean_up(kube, namespace)
    p = statistics.median(r["prove"] for r in rows)
    h = statistics.median(r["by_hand"] for r in rows)
    say("")
    say(f"{'':10} {'prove':>8} {'by hand':>8}")
    for r in rows:
        say(f"round {r['round']:<4} {r['prove']:7.1f}s {r['by_hand']:7.1f}s")
    say(f"{'median':10} {p:7.1f}s {h:7.1f}s   prove / by hand = {p / h:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rows, "median": {"prove": p, "by_hand": h}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
