"""The pure pieces of ``bench/peers.py``: what counts as healthy, when the clock starts,
the Argo Rollouts and shakedown objects of the scenario, and the result table.

Kept apart from the script's cluster I/O so they are unit-tested
(tests/unit/test_peers.py) without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

APP = "web"


# --------------------------------------------------------------------------- pods
def revision(pod: Mapping[str, Any]) -> str:
    """The pod's template hash: Argo Rollouts' label on its pods, else the Deployment's."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return str(labels.get("rollouts-pod-template-hash") or labels.get("pod-template-hash") or "")


def is_ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def ready_transition(pod: Mapping[str, Any]) -> str | None:
    """The Ready condition's lastTransitionTime as the API server sent it."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            value = cond.get("lastTransitionTime")
            return str(value) if value else None
    return None


def is_live(pod: Mapping[str, Any]) -> bool:
    """Not being deleted: a terminating pod turns NotReady without having failed."""
    return not (pod.get("metadata") or {}).get("deletionTimestamp")


def production_healthy(
    pods: Iterable[Mapping[str, Any]], *, replicas: int, old_revisions: set[str]
) -> bool:
    """Production serves from the old revision only, at full strength: exactly
    ``replicas`` live pods of the app, all Ready, all of a revision seen before the change.

    Counting pods, not a workload's status, judges Argo Rollouts' ReplicaSets and
    shakedown's Deployment (and its canary copy) by the same rule.
    """
    live = [p for p in pods if is_live(p)]
    return (
        len(live) == replicas
        and all(is_ready(p) for p in live)
        and all(revision(p) in old_revisions for p in live)
    )


def failure_start(transition: str, seen: float) -> float:
    """When the bad pod turned NotReady, as a Unix time.

    ``lastTransitionTime`` has whole-second precision (truncated), so the
    moment lies in [transition, transition + 1 s); the watch saw it at ``seen``,
    at or after the moment. The earlier of ``transition + 1`` and ``seen`` is
    the tightest bound that never starts the clock before the failure.
    """
    stamp = datetime.fromisoformat(transition.replace("Z", "+00:00")).timestamp()
    return min(stamp + 1.0, max(seen, stamp))


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Outcome:
    """One contender's run."""

    name: str
    settings: str
    seconds: float | None
    """First NotReady to healthy on the old revision; None when it did not happen."""
    bound: float
    """How long the bench waited for it."""
    configmap_back: bool
    stayed_healthy: bool | None
    """Production still healthy a while after (None when it never got healthy)."""
    detail: str = ""

    @property
    def interval(self) -> str:
        if self.seconds is None:
            return f"did not roll back within {self.bound:.0f} s"
        return f"{self.seconds:.1f} s"


def ratio(peer: Outcome, ours: Outcome) -> str:
    """How many times faster shakedown was; a lower bound when the peer never got there."""
    if ours.seconds is None:
        return "n/a (shakedown did not roll back)"
    if ours.seconds <= 0:
        return "n/a"
    if peer.seconds is None:
        return f"> {peer.bound / ours.seconds:.0f}x"
    return f"{peer.seconds / ours.seconds:.1f}x"


def yes_no(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "no")


def table(outcomes: list[Outcome]) -> str:
    """The result rows, then each contender's exact settings and what it ended as."""
    header = ("", "first NotReady -> healthy on old revision", "ConfigMap back", "stayed healthy")
    rows = [header] + [
        (o.name, o.interval, yes_no(o.configmap_back), yes_no(o.stayed_healthy)) for o in outcomes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("")
    lines += [f"{o.name}: {o.settings}" + (f"; {o.detail}" if o.detail else "") for o in outcomes]
    return "\n".join(line.rstrip() for line in lines)


# --------------------------------------------------------------------------- scenario
def canary_steps(pause: int) -> list[dict[str, Any]]:
    """Argo Rollouts' steps: 25 % of the replicas, a timed pause, half, a timed pause, all."""
    return [
        {"setWeight": 25},
        {"pause": {"duration": pause}},
        {"setWeight": 50},
        {"pause": {"duration": pause}},
    ]


def infrarollout_steps(pause: int) -> list[dict[str, Any]]:
    """The same steps in shakedown's words."""
    return [
        {"weight": 25},
        {"pause": f"{pause}s"},
        {"weight": 50},
        {"pause": f"{pause}s"},
        {"weight": 100},
    ]


def argo_rollout(
    template: Mapping[str, Any], *, replicas: int, pause: int, deadline: int | None
) -> dict[str, Any]:
    """The Deployment's workload as an Argo Rollout; tuned when ``deadline`` is given
    (``progressDeadlineSeconds`` plus ``progressDeadlineAbort``), else all defaults."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": APP}},
        "template": dict(template),
        "strategy": {"canary": {"steps": canary_steps(pause)}},
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
        spec["progressDeadlineAbort"] = True
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": APP, "labels": {"app": APP}},
        "spec": spec,
    }


def bad_config(fail_after: int) -> dict[str, str]:
    """The change: a new message and pods that stop answering their probe."""
    return {"MESSAGE": "v2", "FAIL_AFTER": str(fail_after)}


def infrarollout_spec(*, fail_after: int, pause: int, not_ready_for: int) -> dict[str, Any]:
    """The same change as an InfraRollout with the Canary strategy."""
    return {
        "targets": [
            {"kind": "Deployment", "name": APP},
            {"kind": "ConfigMap", "name": f"{APP}-config"},
            {"kind": "Service", "name": APP},
        ],
        "change": {
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": f"{APP}-config"},
                    "type": "merge",
                    "patch": {"data": bad_config(fail_after)},
                }
            ]
        },
        "shadow": {"ttl": "15m", "replicas": 1, "isolate": True},
        "smokeTests": {"readyFor": "3s"},
        "strategy": {"type": "Canary", "canary": {"steps": infrarollout_steps(pause)}},
        "bake": "5m",
        "rollback": {"automatic": True, "notReadyFor": f"{not_ready_for}s", "maxRestarts": 2},
        "timeout": "30m",
    }
