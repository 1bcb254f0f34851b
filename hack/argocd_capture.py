"""Capture real ContainerImageRefresh and InfraRollout objects for the Argo CD Lua tests.

How tests/data/argocd/ was made: this script watches both kinds across the
local cluster while runs happen (the cluster tests, ``make demo``, or objects
created by hand) and writes the first object it sees in each distinct state
(kind, phase, paused/suspended, the last run's outcome) as stripped JSON:

    export SHAKEDOWN_STATE=/work/cold/.shakedown     # or any running local cluster
    .venv/bin/python hack/argocd_capture.py --minutes 30 --out tests/data/argocd &
    cd tests/cluster && ../../.venv/bin/pytest test_imagerefresh_runs.py test_infrarollout_e2e.py \
        test_infrarollout_prove.py argocd_capture_scenarios.py && cd ../..
    .venv/bin/python hack/argocd_capture.py --restrip --out tests/data/argocd

Objects of other sessions running at the same time are captured too (real runs
as well). An existing file is never overwritten, so a fixture the tests pin
stays as it was captured; delete it to capture that state again. The set in
tests/data/argocd was pruned by hand afterwards: of the many states seen before
the operator observed a new generation (``-unobserved``) three are kept, and of
the refreshes another session's newer CRD made Stalled two. Stripping removes
what differs between clusters and carries no meaning for health or actions
(uid, resourceVersion, managedFields, kopf's bookkeeping annotations) and clips
log tails, so the fixtures stay small and readable.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient

KINDS = {"containerimagerefreshes": "cir", "infrarollouts": "iro"}
DROP_METADATA = ("uid", "resourceVersion", "managedFields", "selfLink")
#: kopf's bookkeeping (it stores its state under the operator's own prefix too).
KOPF_ANNOTATIONS = ("kopf.", f"{GROUP}/last-handled-configuration", f"{GROUP}/kopf-managed")
MAX_LOG_TAIL = 400


def state_key(short: str, obj: dict[str, Any]) -> str:
    """A file name telling apart the states the health check and discovery distinguish."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if not status:
        return f"{short}-nostatus"
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    stalled = any(
        c.get("type") == "Stalled" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    observed = status.get("observedGeneration", ready.get("observedGeneration"))
    unobserved = observed is not None and observed < (obj["metadata"].get("generation") or 0)
    if short == "iro":
        parts = [short, str(status.get("phase", "Pending"))]
        if int(status.get("revision") or 0) == 0:
            parts.append("rev0")
        if ready.get("reason") == "Paused":
            parts.append("paused")
        if str(annotations.get(f"{GROUP}/paused", "")).lower() == "true":
            parts.append("held")
        if stalled and status.get("phase") not in ("Failed", "RolledBack", "Aborted"):
            parts.append("stalled")
        if unobserved:
            parts.append("unobserved")
        return "-".join(parts)
    current = (status.get("currentRun") or {}).get("phase")
    last = (status.get("lastRun") or {}).get("phase")
    parts = [short, str(current or "idle"), f"last{last or 'None'}"]
    if spec.get("suspend"):
        parts.append("suspended")
    if stalled:
        parts.append("stalled")
    if len(status.get("history") or []) > 1:
        parts.append("history")
    if unobserved:
        parts.append("unobserved")
    return "-".join(parts)


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without per-cluster noise (see the module docstring)."""
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata") or {}
    for key in DROP_METADATA:
        meta.pop(key, None)
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(KOPF_ANNOTATIONS)
    }
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    _clip_logs(obj.get("status") or {})
    return obj


def _clip_logs(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "logTail" and isinstance(item, str) and len(item) > MAX_LOG_TAIL:
                value[key] = "…" + item[-MAX_LOG_TAIL:]
            else:
                _clip_logs(item)
    elif isinstance(value, list):
        for item in value:
            _clip_logs(item)


def _watch(plural: str, out: Path, until: float, lock: threading.Lock) -> None:
    api = client.CustomObjectsApi(kubeclient.api_client())
    short = KINDS[plural]
    while time.monotonic() < until:
        stream = watch.Watch().stream(
            api.list_cluster_custom_object,
            GROUP,
            VERSION,
            plural,
            timeout_seconds=max(1, min(60, int(until - time.monotonic()))),
        )
        for event in stream:
            if event["type"] not in ("ADDED", "MODIFIED"):
                continue
            obj = event["object"]
            path = out / short / f"{state_key(short, obj)}.json"
            with lock:
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(strip(obj), indent=2, sort_keys=True) + "\n")
            print(f"captured {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/argocd"))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--restrip", action="store_true", help="only strip the files already in --out again"
    )
    args = parser.parse_args()
    if args.restrip:
        for path in sorted(args.out.glob("*/*.json")):
            obj = strip(json.loads(path.read_text()))
            path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
        return
    kubeclient.load()
    until = time.monotonic() + args.minutes * 60
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_watch, args=(p, args.out, until, lock), daemon=True) for p in KINDS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
