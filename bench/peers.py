"""The same bad canary under shakedown and Argo Rollouts, side by side in one run.

A web service (the demo's busybox httpd: ``--replicas`` pods, readiness probe
every second, page text from a ConfigMap) is at v1 and healthy. The change moves
its ConfigMap to v2 with ``FAIL_AFTER``: the new pods start Ready and stop
answering their probe ``--fail-after`` seconds later (long enough to pass
shakedown's shadow, so the failure reaches the canary). It is rolled out four
times, each in a namespace of its own, on the local cluster (KUBECONFIG is
ignored), one after the other:

- shakedown defaults and tuned: an InfraRollout with the Canary strategy (25 %,
  pause, 50 %, pause, 100 %) on the Deployment, ConfigMap and Service, the
  operator run out of cluster (``shakedown run``), ``rollback.notReadyFor`` at
  its default (10 s) and at ``--tuned-not-ready-for`` (2 s);
- Argo Rollouts tuned: a Rollout with the same steps and
  ``progressDeadlineSeconds: --deadline`` plus ``progressDeadlineAbort: true``;
  the change applied as a user would (ConfigMap patched, then a template
  annotation naming the config version);
- Argo Rollouts defaults: the same Rollout without those two fields.

Argo Rollouts v1.9.3's controller is built from its Go module
(``shakedown.localcluster.argorollouts``, cached) and run out of cluster with
``--namespaced --namespace NS --leader-elect=false``.

Each run measures the seconds from the first bad pod turning NotReady (its Ready
condition's transition, seen by a pod watch) until production is healthy on the
old revision (exactly ``--replicas`` live pods, all Ready, all of a template
hash running before the change), waiting at most ``--wait`` seconds; then
whether the ConfigMap is back at v1, and whether production stays healthy for
``--fail-after`` + 5 s (a pod started from a still-bad ConfigMap fails again).

Run: ``.venv/bin/python bench/peers.py [--wait 600] [--deadline 10] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient

from benchkit import clean_up, wait
from peerskit import (
    APP,
    Outcome,
    argo_rollout,
    bad_config,
    infrarollout_spec,
    ratio,
    table,
)
from peerwatch import PodWatch, Process, http_ok
from shakedown.adapters import crds as crd_adapter
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube, apply_object
from shakedown.demo.infrarollout import sample_workload
from shakedown.localcluster import argorollouts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.fixtures: the ports the test operators take too

from tests.fixtures.operator import free_port, free_ports  # noqa: E402

ROLLOUTS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts"
FINAL = {"Succeeded", "Failed", "RolledBack", "Aborted"}
RUNS = ("shakedown-default", "shakedown-tuned", "argo-tuned", "argo-default")


def say(message: str) -> None:
    print(message, flush=True)


class Bench:
    """What every run shares: the cluster, the image, the settings."""

    def __init__(self, args: argparse.Namespace, kubeconfig: Path, image: str) -> None:
        self.args, self.kubeconfig, self.image = args, kubeconfig, image
        self.api: ApiClient = kubeclient.client_for(kubeconfig)
        self.kube = Kube(kubeclient.connection(self.api))
        self.tag = secrets.token_hex(2)
        self.logs = Path(f"/tmp/shakedown-peers-{self.tag}")
        self.logs.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def namespace(self, kind: str) -> Iterator[str]:
        name = f"peers-{kind}-{self.tag}"
        self.kube.create("Namespace", None, {"metadata": {"name": name}})
        wait(lambda: self.kube.get("ServiceAccount", name, "default"), 30)
        try:
            yield name
        finally:
            clean_up(self.kube, name)

    def workload(self) -> list[dict[str, Any]]:
        return sample_workload(APP, self.image, replicas=self.args.replicas)

    def config_back(self, ns: str) -> bool:
        data = (self.kube.get("ConfigMap", ns, f"{APP}-config") or {}).get("data") or {}
        return dict(data) == {"MESSAGE": "v1"}

    def measure(
        self,
        ns: str,
        watch: PodWatch,
        change: Callable[[], object],
        name: str,
        settings: str,
        ended: Callable[[], bool] = lambda: False,
    ) -> Outcome:
        """Apply the change, then time the failure and the recovery."""
        watch.arm()
        change()
        say(f"  {name}: change applied, waiting for the first bad pod to turn NotReady")
        wait(lambda: watch.failed_at is not None or ended(), 300)
        if watch.failed_at is None:
            raise SystemExit(f"{name}: the change ended before a bad pod reached production")
        say(f"  {name}: first bad pod NotReady ({watch.failed_pod}); waiting for production")
        bound = self.args.wait
        with suppress(TimeoutError):
            wait(lambda: watch.healthy_at is not None, bound)
        seconds = None if watch.healthy_at is None else watch.healthy_at - watch.failed_at
        stayed: bool | None = None
        if seconds is not None:
            say(f"  {name}: healthy on the old revision after {seconds:.1f} s")
            hold = self.args.fail_after + 5
            try:
                wait(lambda: watch.relapsed_at is not None, hold)
                stayed = False
                say(f"  {name}: then {watch.relapsed_pod} turned NotReady")
            except TimeoutError:
                stayed = True
        else:
            say(f"  {name}: did not roll back within {bound:.0f} s")
        return Outcome(name, settings, seconds, bound, self.config_back(ns), stayed)


def run_shakedown(bench: Bench, *, tuned: bool) -> Outcome:
    args, kube = bench.args, bench.kube
    label = "shakedown-tuned" if tuned else "shakedown-default"
    not_ready_for = args.tuned_not_ready_for if tuned else 10
    with (
        bench.namespace(label.replace("shakedown", "sd")) as ns,
        PodWatch(bench.api, ns, args.replicas) as watch,
    ):
        for obj in bench.workload():
            apply_object(kube, ns, obj)
        wait(lambda: watch.healthy_now(), 120)
        liveness = free_port()
        env = {"KUBECONFIG": str(bench.kubeconfig), "SHAKEDOWN_PROBE_IMAGE": bench.image}
        command = [
            str(Path(sys.executable).with_name("shakedown")),
            *("run", "--namespace", f"{ns}*", "--metrics-port", "0"),
            *("--liveness", f"http://127.0.0.1:{liveness}/healthz"),
        ]
        with Process(command, bench.logs / f"{label}.log", env) as operator:
            wait(lambda: operator.alive() and http_ok(liveness, "/healthz"), 60)
            spec = infrarollout_spec(
                fail_after=args.fail_after, pause=args.pause, not_ready_for=not_ready_for
            )
            body = {
                "apiVersion": "shakedown.dev/v1alpha1",
                "kind": "InfraRollout",
                "metadata": {"name": "change"},
                "spec": spec,
            }
            settings = (
                f"InfraRollout strategy Canary steps {spec['strategy']['canary']['steps']},"
                f" rollback.notReadyFor {not_ready_for}s"
                + ("" if tuned else " (its default)")
                + ", smokeTests.readyFor 3s,"
                " shadow replicas 1"
            )

            def final() -> dict[str, Any] | None:
                status = (kube.get("InfraRollout", ns, "change") or {}).get("status") or {}
                return status if status.get("phase") in FINAL else None

            outcome = bench.measure(
                ns,
                watch,
                lambda: kube.create("InfraRollout", ns, body),
                label,
                settings,
                ended=lambda: final() is not None,
            )

            try:
                status = wait(final, 120)
                detail = f"ended {status['phase']}: {status.get('rollbackReason') or ''}"
            except TimeoutError:
                detail = "the InfraRollout had not finished 120 s later"
        return replace(outcome, detail=detail.strip())


def run_argo(bench: Bench, binary: Path, *, tuned: bool) -> Outcome:
    args, kube = bench.args, bench.kube
    label = "argo-tuned" if tuned else "argo-default"
    deadline = args.deadline if tuned else None
    with bench.namespace(label) as ns, PodWatch(bench.api, ns, args.replicas) as watch:
        workload = {o["kind"]: o for o in bench.workload()}
        for kind in ("ConfigMap", "Service"):
            apply_object(kube, ns, workload[kind])
        template = workload["Deployment"]["spec"]["template"]
        rollout = argo_rollout(
            template, replicas=args.replicas, pause=args.pause, deadline=deadline
        )
        path = ROLLOUTS.format(ns=ns)
        kube.call("POST", path, body=rollout)
        metrics, healthz = free_ports(2)
        command = [
            str(binary),
            *("--kubeconfig", str(bench.kubeconfig), "--namespaced", "--namespace", ns),
            *("--leader-elect=false", f"--metricsPort={metrics}", f"--healthzPort={healthz}"),
        ]
        env = {"POD_NAMESPACE": ns}
        with Process(command, bench.logs / f"{label}.log", env) as controller:
            wait(lambda: controller.alive() and http_ok(healthz, "/healthz"), 60)
            wait(lambda: watch.healthy_now(), 120)

            def change() -> None:
                kube.merge_patch(
                    "ConfigMap", ns, f"{APP}-config", {"data": bad_config(args.fail_after)}
                )
                kube.call(
                    "PATCH",
                    f"{path}/{APP}",
                    body={
                        "spec": {
                            "template": {"metadata": {"annotations": {"config-version": "v2"}}}
                        }
                    },
                    content_type="application/merge-patch+json",
                )

            settings = (
                f"Rollout canary steps {rollout['spec']['strategy']['canary']['steps']}, "
                + (
                    f"progressDeadlineSeconds {deadline}, progressDeadlineAbort true"
                    if tuned
                    else "progressDeadlineSeconds and progressDeadlineAbort unset (600, false)"
                )
            )
            outcome = bench.measure(ns, watch, change, label, settings)
            status = kube.call("GET", f"{path}/{APP}").get("status") or {}
            detail = f"ended {status.get('phase')}: {status.get('message') or ''}"
        return replace(outcome, detail=detail.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for recovery")
    parser.add_argument("--deadline", type=int, default=10, help="Argo tuned progress deadline")
    parser.add_argument(
        "--tuned-not-ready-for", type=int, default=2, help="shakedown-tuned's notReadyFor"
    )
    parser.add_argument(
        "--fail-after",
        type=int,
        default=30,
        help="seconds the bad pods stay Ready (longer than shakedown's shadow phase)",
    )
    parser.add_argument("--pause", type=int, default=60, help="canary pause steps, seconds")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--only", default=",".join(RUNS), help="runs, comma separated")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    runs = args.only.split(",")
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"--only: unknown run {sorted(unknown)}")
    if args.fail_after <= 3:
        parser.error("--fail-after must exceed the shadow's smokeTests.readyFor (3 s)")

    from shakedown.localcluster import cluster, images
    from shakedown.localcluster.layout import Layout

    layout = Layout.default()
    cluster.acquire(layout, say=lambda m: say(f"  {m}"))
    try:
        image = images.build_busybox(layout, say=lambda m: None).ref
        bench = Bench(args, layout.kubeconfig, image)
        crd_adapter.install(bench.api)
        build = argorollouts.build_dir(layout)
        if any(run.startswith("argo") for run in runs):
            started = time.monotonic()
            build = argorollouts.build_argo_rollouts(layout, say=lambda m: say(f"  {m}"))
            say(f"  argo-rollouts build step took {time.monotonic() - started:.1f} s")
            documents = [yaml.safe_load(p.read_text()) for p in build.crds()]
            crd_adapter.install(bench.api, documents, timeout=60)
        say(f"image {image}, logs in {bench.logs}")
        outcomes: list[Outcome] = []
        if "shakedown-default" in runs:
            outcomes.append(run_shakedown(bench, tuned=False))
        if "shakedown-tuned" in runs:
            outcomes.append(run_shakedown(bench, tuned=True))
        if "argo-tuned" in runs:
            outcomes.append(run_argo(bench, build.binary, tuned=True))
        if "argo-default" in runs:
            outcomes.append(run_argo(bench, build.binary, tuned=False))
    finally:
        cluster.release(layout, stop=False)
    say("")
    say(table(outcomes))
    ratios = {}
    for ours in (o for o in outcomes if o.name.startswith("shakedown")):
        for peer in (o for o in outcomes if o.name.startswith("argo")):
            key = f"{ours.name} vs {peer.name}"
            ratios[key] = ratio(peer, ours)
            say(f"{key}: {ratios[key]} faster")
    say(f"versions: argo-rollouts {argorollouts.VERSION} (GOTOOLCHAIN={argorollouts.TOOLCHAIN})")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        result = {
            "outcomes": [asdict(o) for o in outcomes],
            "ratios": ratios,
            "settings": settings,
            "argo_rollouts": argorollouts.VERSION,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.pop("KUBECONFIG", None)
    sys.exit(main())
