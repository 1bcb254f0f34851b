"""Scale benchmark: what N idle ContainerImageRefreshes and N finished InfraRollouts cost.

On a real cluster (the local one unless KUBECONFIG is set), for the operator
of this checkout and, with ``--baseline REV``, for the operator of a git
revision side by side (run from a temporary worktree of REV with this
checkout's virtualenv), one after the other in one run:

1. N suspended ContainerImageRefreshes and N InfraRollouts already finished
   (status Succeeded for the change their spec asks, against one ConfigMap)
   are created in namespaces ``scale-<id>-cir`` / ``-iro`` while no operator runs.
2. API requests per minute with no operator: ``apiserver_request_total``
   from the API server's own /metrics (admin kubeconfig), summed over every
   label, over ``--window`` seconds, and again with the operator running idle
   (step 4). On a shared cluster other work makes that difference noisy, so
   the operator also runs as its own ServiceAccount with a FlowSchema of its
   own, and the API server's per-FlowSchema count
   (``apiserver_flowcontrol_dispatched_requests_total``) is its exact share.
3. The operator starts (``shakedown run --namespace scale-<id>-*``, out of
   cluster); seconds until every object is reconciled (its
   status.observedGeneration equals its generation).
4. Once idle: its requests per minute, then its RSS (VmRSS of /proc/<pid>/status).
5. ``--rollbacks`` times, a rollout in ``-bad`` whose production pods fail
   during the bake (``bench/infrarollout_bench.py``'s change) while the 2N
   others are present: the operator-added rollback latency (from the pod's
   Ready=False plus ``notReadyFor`` to the restored Deployment, seen by a watch), p50/p95.
6. Seconds to delete all 2N objects (a delete-collection per kind) until none is left.

Everything it creates is deleted at the end, also on Ctrl-C.

Run: ``.venv/bin/python bench/scale.py [--n 1000] [--baseline main] [--rollbacks 5]``;
``--probe`` also says where the operator's heap and requests go (``bench/opprobe.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient

from benchkit import clean_up, cluster_and_image, wait
from infrarollout_bench import NOT_READY_FOR, Seen, _healthy, _measure, _percentile, _rollout_spec
from infrarollout_bench import _watch as watch_production
from shakedown.adapters import kubeclient
from shakedown.adapters.workloads import Kube, apply_object
from shakedown.api.infrarollout import InfraRolloutSpec
from shakedown.demo.infrarollout import sample_workload
from shakedown.localcluster import procs
from shakedown.planning.infrarollout.revision import check_revision

REPO = Path(__file__).resolve().parents[1]
GROUP_PATH = "/apis/shakedown.dev/v1alpha1/namespaces"
IRO_SPEC: dict[str, Any] = {
    "targets": [{"kind": "Deployment", "name": "target"}, {"kind": "ConfigMap", "name": "target"}],
    "change": {
        "patches": [
            {
                "target": {"kind": "ConfigMap", "name": "target"},
                "type": "merge",
                "patch": {"data": {"MESSAGE": "v2"}},
            }
        ]
    },
}
CIR_SPEC: dict[str, Any] = {
    "image": "registry.invalid/bench/idle",
    "tag": "latest",
    "source": {"configMap": {"name": "context"}},
    "tests": [{"name": "smoke", "command": ["/bin/true"], "timeout": "1m"}],
    "suspend": True,
}


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- measuring
def _metrics(api: ApiClient) -> list[str]:
    """The API server's /metrics, as lines."""
    headers: dict[str, str] = {}
    api.update_params_for_auth(headers, [], ["BearerToken"], "", "", "GET", None)
    response = api.rest_client.pool_manager.request(
        "GET", f"{api.configuration.host}/metrics", headers=headers, timeout=30
    )
    return list(response.data.decode().splitlines())


def request_total(api: ApiClient) -> float:
    """apiserver_request_total summed over all its series (the API server's own count)."""
    lines = _metrics(api)
    return sum(
        float(line.rpartition(" ")[2])
        for line in lines
        if line.startswith("apiserver_request_total{")
    )


def per_minute(count: Callable[[], float], seconds: float) -> float:
    before, start = count(), time.monotonic()
    time.sleep(seconds)
    return (count() - before) * 60 / (time.monotonic() - start)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def unreconciled(kube: Kube, kind: str, namespace: str) -> int:
    """Objects whose status.observedGeneration is not their generation yet."""
    return sum(
        1
        for obj in kube.list(kind, namespace)
        if (obj.get("status") or {}).get("observedGeneration") != obj["metadata"].get("generation")
    )


# ------------------------------------------------------------------- the operator's identity
@contextmanager
def identity(setup: Setup, prefix: str) -> Iterator[tuple[Path, str]]:
    """A kubeconfig of the operator's own ServiceAccount, and a FlowSchema counting its requests.

    apiserver_request_total has no label naming the client, but API Priority
    and Fairness counts every request per FlowSchema
    (apiserver_flowcontrol_dispatched_requests_total): one that matches only
    this ServiceAccount is the API server's own count of the operator's requests.
    """
    kube, namespace, name = setup.kube, "default", prefix
    kube.create("ServiceAccount", namespace, {"metadata": {"name": name}})
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    flows = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
    schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            "matchingPrecedence": 500,
            "priorityLevelConfiguration": {"name": "workload-low"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"name": name, "namespace": namespace},
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }
    try:
        kube.call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body=binding)
        kube.call("POST", flows, body=schema)
        token = kube.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            body={"spec": {"expirationSeconds": 86400}},
        )["status"]["token"]
        config = yaml.safe_load(setup.kubeconfig.read_text())
        config["users"] = [{"name": "operator", "user": {"token": token}}]
        for context in config["contexts"]:
            context["context"]["user"] = "operator"
        path = setup.logs / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        yield path, name
    finally:
        for url in (
            f"{flows}/{name}",
            f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}",
        ):
            try:
                kube.call("DELETE", url)
            except Exception as exc:  # the others are deleted anyway
                say(f"  clean-up of {url}: {exc}")
        kube.delete("ServiceAccount", namespace, name)
        (setup.logs / f"{name}.kubeconfig").unlink(missing_ok=True)


def dispatched(api: ApiClient, schema: str) -> float:
    """Requests the API server dispatched for ``schema`` so far."""
    wanted = f'apiserver_flowcontrol_dispatched_requests_total{{flow_schema="{schema}",'
    return sum(float(line.rpartition(" ")[2]) for line in _metrics(api) if line.startswith(wanted))


# --------------------------------------------------------------------------- objects
def _object(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    version = "apps/v1" if kind == "Deployment" else "v1"
    return {"apiVersion": version, "kind": kind, "metadata": {"name": name}, **fields}


def populate(kube: Kube, prefix: str, n: int, image: str) -> None:
    """N suspended refreshes and N finished rollouts, made while no operator runs."""
    cir_ns, iro_ns = f"{prefix}-cir", f"{prefix}-iro"
    context = {"Containerfile": "FROM scratch\n"}
    apply_object(kube, cir_ns, _object("ConfigMap", "context", data=context))
    apply_object(kube, iro_ns, _object("ConfigMap", "target", data={"MESSAGE": "v2"}))
    # The cheapest workload target: a Deployment of no pods.
    pod = {"containers": [{"name": "idle", "image": image}]}
    deployment = {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "target"}},
        "template": {"metadata": {"labels": {"app": "target"}}, "spec": pod},
    }
    apply_object(kube, iro_ns, _object("Deployment", "target", spec=deployment))
    change = check_revision(InfraRolloutSpec.model_validate(IRO_SPEC), None).wanted_hash
    finished = {"revision": 1, "phase": "Succeeded", "changeHash": change}

    def refresh(i: int) -> None:
        body = {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "ContainerImageRefresh",
            "metadata": {"name": f"idle-{i}"},
            "spec": CIR_SPEC,
        }
        kube.create("ContainerImageRefresh", cir_ns, body)

    def rollout(i: int) -> None:
        body = {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "InfraRollout",
            "metadata": {"name": f"done-{i}"},
            "spec": IRO_SPEC,
        }
        kube.create("InfraRollout", iro_ns, body)
        kube.merge_patch(
            "InfraRollout", iro_ns, f"done-{i}", {"status": finished}, subresource="status"
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(refresh, range(n)))
        list(pool.map(rollout, range(n)))


def delete_all(kube: Kube, prefix: str) -> float:
    """Seconds from a delete-collection of both kinds until none is left."""
    start = time.monotonic()
    for plural, suffix in (("containerimagerefreshes", "cir"), ("infrarollouts", "iro")):
        kube.call("DELETE", f"{GROUP_PATH}/{prefix}-{suffix}/{plural}")

    def gone() -> bool:
        return not kube.list("ContainerImageRefresh", f"{prefix}-cir") and not kube.list(
            "InfraRollout", f"{prefix}-iro"
        )

    wait(gone, 1800)
    return time.monotonic() - start


# --------------------------------------------------------------------------- operator
@contextmanager
def operator(
    kubeconfig: Path,
    prefix: str,
    image: str,
    source: Path,
    log: Path,
    verbose: bool,
    probe: Path | None = None,
) -> Iterator[int]:
    """``shakedown run`` of ``source``'s operator package (this checkout or a worktree);
    with ``probe``, under ``bench/opprobe.py`` writing its reports to ``probe-<k>.json``."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "SHAKEDOWN_PROBE_IMAGE": image,
        "PYTHONPATH": str(source / "operator"),
        "PYTHONUNBUFFERED": "1",
        **({"OPPROBE_OUT": str(probe)} if probe else {}),
    }
    start = [str(REPO / "bench" / "opprobe.py")] if probe else ["-m", "shakedown"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *start,
                "run",
                "--namespace",
                f"{prefix}-*",
                "--metrics-port",
                "0",
                *(["--verbose"] if verbose else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=source,
        )
    try:
        yield proc.pid
    finally:
        procs.terminate(proc, grace=30)


@contextmanager
def checkout(revision: str | None) -> Iterator[Path]:
    """This checkout, or a temporary worktree of ``revision``."""
    if revision is None:
        yield REPO
        return
    where = Path(tempfile.mkdtemp(prefix="scale-baseline-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)],
            check=False,
            capture_output=True,
        )


def rollbacks(kube: Kube, api: ApiClient, namespace: str, image: str, rounds: int) -> list[float]:
    """Operator-added rollback latency (s) of ``rounds`` bad changes, one after the other."""
    for obj in sample_workload("web", image, replicas=1):
        apply_object(kube, namespace, obj)
    seen, stop = Seen(), threading.Event()
    watch_production(api, namespace, seen, stop)
    added: list[float] = []
    try:
        wait(
            lambda: _healthy(
                kube.get("Deployment", namespace, "web") or {"spec": {}, "metadata": {}}
            ),
            180,
        )
        for iteration in range(1, rounds + 1):
            start = time.time()
            if iteration == 1:
                body = {
                    "apiVersion": "shakedown.dev/v1alpha1",
                    "kind": "InfraRollout",
                    "metadata": {"name": "bad"},
                    "spec": _rollout_spec(1),
                }
                kube.create("InfraRollout", namespace, body)
            else:
                kube.merge_patch(
                    "InfraRollout", namespace, "bad", {"spec": _rollout_spec(iteration)}
                )
            measured = _measure(seen, start, timeout=300)
            added.append(measured.restored_seen - (measured.failed_at.timestamp() + NOT_READY_FOR))

            def ended(revision: int = iteration) -> bool:
                status = (kube.get("InfraRollout", namespace, "bad") or {}).get("status") or {}
                return status.get("revision") == revision and status.get("phase") in (
                    "RolledBack",
                    "Succeeded",
                    "Failed",
                )

            wait(ended, 300)
            say(f"    rollback {iteration}: operator-added {added[-1] * 1000:.0f} ms")
        kube.delete("InfraRollout", namespace, "bad")
        wait(lambda: kube.get("InfraRollout", namespace, "bad") is None, 300)
    finally:
        stop.set()
    return added


def probed(pid: int, probe: Path | None, k: int) -> dict[str, Any] | None:
    """Ask the probed operator for its ``k``-th report (``bench/opprobe.py``)."""
    if probe is None:
        return None
    os.kill(pid, signal.SIGUSR1)
    path = probe.parent / f"{probe.name}-{k}.json"
    wait(path.exists, 300)
    report: dict[str, Any] = json.loads(path.read_text())
    say(f"  probe {path}: requests so far {report['requests']}")
    say(f"    memory {report['memory']}")
    for root, found in report["retained"].items():
        if isinstance(found, dict) and "mib" in found:
            say(f"    {found['mib']:>8} MiB {found['objects']:>9} objects  {root}")
            if found["mib"] >= 1:
                say(f"{'':>30}{found['types_kib']}")
    held = report["retained"].get("bytearrays, by the type holding them")
    say(f"    bytearrays (KiB) held by {held}")
    for row in report["retained"]["unreached, by type of the gc-tracked object"][:8]:
        say(f"    {row['kib'] / 1024:>8.1f} MiB {row['objects']:>9} objects  {row['type']}")
    return report


# --------------------------------------------------------------------------- one operator
def measure(args: argparse.Namespace, label: str, source: Path, setup: Setup) -> dict[str, Any]:
    kube, api = setup.kube, setup.api
    prefix = f"scale-{secrets.token_hex(3)}"
    namespaces = [f"{prefix}-{suffix}" for suffix in ("cir", "iro", "bad")]
    result: dict[str, Any] = {"label": label, "n": args.n}
    say(f"== {label}: {prefix}-*, N={args.n} of each kind")
    try:
        for namespace in namespaces:
            kube.create("Namespace", None, {"metadata": {"name": namespace}})
        started = time.monotonic()
        populate(kube, prefix, args.n, setup.image)
        say(f"  created {2 * args.n} objects in {time.monotonic() - started:.0f} s")
        result["requests_per_min_without"] = round(
            per_minute(lambda: request_total(api), args.window)
        )
        say(f"  no operator: {result['requests_per_min_without']} requests/min")
        log = setup.logs / f"scale-{prefix}.log"
        probe = setup.logs / f"scale-{prefix}-probe" if args.probe else None
        with (
            identity(setup, prefix) as (kubeconfig, schema),
            operator(kubeconfig, prefix, setup.image, source, log, args.verbose, probe) as pid,
        ):
            start, before = time.monotonic(), dispatched(api, schema)
            wait(
                lambda: (
                    unreconciled(kube, "ContainerImageRefresh", f"{prefix}-cir") == 0
                    and unreconciled(kube, "InfraRollout", f"{prefix}-iro") == 0
                ),
                1800,
            )
            result["start_to_reconciled_s"] = round(time.monotonic() - start, 1)
            result["requests_to_reconcile"] = round(dispatched(api, schema) - before)
            say(
                f"  all reconciled {result['start_to_reconciled_s']} s after the start,"
                f" with {result['requests_to_reconcile']} requests"
            )
            probed(pid, probe, 1)
            time.sleep(args.settle)
            start = dispatched(api, schema)
            result["requests_per_min_with"] = round(
                per_minute(lambda: request_total(api), args.window)
            )
            mine = (dispatched(api, schema) - start) * 60 / args.window
            result["rss_mib"] = round(rss_mib(pid))  # idle for the whole window by now
            result["operator_requests_per_min"] = round(mine, 1)
            result["difference_per_min"] = (
                result["requests_per_min_with"] - result["requests_per_min_without"]
            )
            say(
                f"  idle: RSS {result['rss_mib']} MiB; the operator's own requests:"
                f" {result['operator_requests_per_min']}/min (FlowSchema {schema}); all"
                f" requests: {result['requests_per_min_with']}/min with the operator,"
                f" {result['requests_per_min_without']}/min without"
            )
            probed(pid, probe, 2)
            if args.rollbacks:
                added = rollbacks(kube, api, f"{prefix}-bad", setup.image, args.rollbacks)
                result["rollback_ms_p50"] = round(_percentile(added, 0.5) * 1000)
                result["rollback_ms_p95"] = round(_percentile(added, 0.95) * 1000)
            result["delete_all_s"] = round(delete_all(kube, prefix), 1)
            say(f"  deleted all {2 * args.n} in {result['delete_all_s']} s; log {log}")
    finally:
        for namespace in namespaces:
            try:
                clean_up(kube, namespace)
            except Exception as exc:  # clean the others up anyway
                say(f"  clean-up of {namespace}: {exc}")
    return result


class Setup:
    def __init__(self, kubeconfig: Path, image: str, logs: Path) -> None:
        self.kubeconfig, self.image, self.logs = kubeconfig, image, logs
        self.api = kubeclient.client_for(kubeconfig)
        self.kube = Kube(kubeclient.connection(self.api))


def connect() -> Setup:
    from shakedown.adapters.crds import install

    kubeconfig, image = cluster_and_image(say)
    logs = REPO / ".shakedown"
    logs.mkdir(exist_ok=True)
    setup = Setup(kubeconfig, image, logs)
    install(setup.api)
    return setup


GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "rss_mib": ("operator RSS at idle (MiB)", lambda v: v < 150),
    "operator_requests_per_min": ("idle API requests/min, operator's own", lambda v: v < 60),
    "difference_per_min": ("idle requests/min, with minus without", lambda v: True),
    "start_to_reconciled_s": ("start until all reconciled (s)", lambda v: v < 30),
    "delete_all_s": ("delete all (s)", lambda v: v < 60),
    "rollback_ms_p50": ("operator-added rollback latency p50 (ms)", lambda v: True),
    "rollback_ms_p95": ("operator-added rollback latency p95 (ms)", lambda v: v < 1000),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="objects of each kind")
    parser.add_argument("--baseline", metavar="REV", help="also measure the operator of REV")
    parser.add_argument("--rollbacks", type=int, default=5, help="bad changes (0: none)")
    parser.add_argument("--window", type=float, default=60, help="seconds per request count")
    parser.add_argument("--settle", type=float, default=15, help="seconds idle before measuring")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--verbose", action="store_true", help="the operator logs at DEBUG")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="run the operator under bench/opprobe.py: its heap and requests, at start and idle",
    )
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    setup = connect()
    results = []
    try:
        if args.baseline:
            with checkout(args.baseline) as source:
                results.append(measure(args, f"baseline {args.baseline}", source, setup))
        results.append(measure(args, "this checkout", REPO, setup))
    except KeyboardInterrupt:
        say("interrupted: cleaned up")
        return 130
    say(
        f"\n{'measure':<45}"
        + "".join(f"{r['label']:>22}" for r in results)
        + ("      ratio" if len(results) == 2 else "")
        + "   goal"
    )
    for key, (title, met) in GOALS.items():
        values = [r.get(key) for r in results]
        if all(v is None for v in values):
            continue
        line = f"{title:<45}" + "".join(f"{'' if v is None else v:>22}" for v in values)
        if len(values) == 2 and values[0] and values[1] is not None:
            line += f"{values[1] / values[0]:>11.2f}"
        last = values[-1]
        line += "   " + ("met" if last is not None and met(last) else "missed")
        say(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
