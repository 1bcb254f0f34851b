"""Phase 5, Bake: is production healthy? A judgement over the pods as observed.

The operator feeds this the pods of the shifted workloads every time a watch
event arrives; the verdict is a failure with the moment it became observable
(so the metrics can time the reaction), or health with the next moment the
verdict could change by the clock alone (a pod NotReady that will cross
``notReadyFor``). Pods that existed before the shift are judged on readiness
only: their old restarts are not this change's fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shakedown.planning.infrarollout.objects import Meta, parse_time

#: Extra time a pod that was never Ready gets before NotReady counts against it.
STARTUP_ALLOWANCE = 30.0
#: Container states that will not fix themselves.
FATAL_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CrashLoopBackOff",
    }
)

#: Messages of a waiting state that clears by itself: the kubelet had not yet
#: seen a ConfigMap or Secret created a moment before the pod (a canary's own
#: ConfigMap), and retries. Any other CreateContainerConfigError (a missing key,
#: a missing object) does not clear.
TRANSIENT_WAITING_MESSAGES = ("failed to sync configmap cache", "failed to sync secret cache")


def fatal_waiting(waiting: Mapping[str, Any], reasons: frozenset[str] = FATAL_WAITING) -> bool:
    """Whether a container's waiting state is one that will not fix itself."""
    if waiting.get("reason") not in reasons:
        return False
    message = str(waiting.get("message") or "")
    return not any(text in message for text in TRANSIENT_WAITING_MESSAGES)


@dataclass(frozen=True)
class Verdict:
    failed: bool
    reason: str = ""
    """CamelCase cause: NotReady, Restarts, MetricCheckFailed."""
    message: str = ""
    observable_at: datetime | None = None
    """When the failure became observable by the rules (for latency metrics)."""
    recheck_at: datetime | None = None
    """When the clock alone could turn health into failure."""


def ready_condition(pod: Mapping[str, Any]) -> tuple[bool, datetime | None]:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True", parse_time(
                condition.get("lastTransitionTime")
            )
    return False, Meta.of(pod).created


def was_ready(pod: Mapping[str, Any], changed: datetime | None) -> bool:
    """Whether a NotReady pod had been Ready: Ready flipped after its containers started.

    A pod that never became Ready carries the Ready=False set when it was
    initialized, before any container started.
    """
    if changed is None:
        return False
    started = [
        parse_time(((s.get("state") or {}).get("running") or {}).get("startedAt"))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    moments = [m for m in started if m is not None]
    return bool(moments) and changed > max(moments)


def restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def is_live(pod: Mapping[str, Any]) -> bool:
    if Meta.of(pod).deleting:
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def judge_pods(
    pods: Iterable[Mapping[str, Any]],
    *,
    not_ready_for: float,
    max_restarts: int,
    since: datetime,
    now: datetime,
) -> Verdict:
    """Fail on a pod NotReady for ``not_ready_for`` seconds, or restarting too often."""
    recheck: datetime | None = None
    for pod in sorted(pods, key=lambda p: Meta.of(p).name):
        if not is_live(pod):
            continue
        meta = Meta.of(pod)
        name, created = meta.name, meta.created or since
        count = restarts(pod)
        if created >= since and count > max_restarts:
            return Verdict(
                True,
                "Restarts",
                f"pod {name} restarted {count} times (rollback.maxRestarts is {max_restarts})",
                observable_at=now,
            )
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if fatal_waiting(waiting):
                return Verdict(
                    True,
                    str(waiting["reason"]),
                    f"pod {name}: {waiting['reason']} {waiting.get('message', '')}".strip(),
                    observable_at=now,
                )
        ready, changed = ready_condition(pod)
        if ready:
            continue
        if was_ready(pod, changed):
            not_ready_since = max(changed or since, since)
            allowed = not_ready_for
        else:  # still starting: judged only once it had a fair chance to become Ready
            not_ready_since = max(created, since)
            allowed = not_ready_for + STARTUP_ALLOWANCE
        deadline = not_ready_since + timedelta(seconds=allowed)
        if now >= deadline:
            waited = (now - not_ready_since).total_seconds()
            return Verdict(
                True,
                "NotReady",
                f"pod {name} not Ready for {waited:.0f}s"
                f" (rollback.notReadyFor is {not_ready_for:.0f}s)",
                observable_at=deadline,
            )
        recheck = deadline if recheck is None else min(recheck, deadline)
    return Verdict(False, recheck_at=recheck)


def ready_since(pods: Iterable[Mapping[str, Any]], *, expected: int) -> datetime | None:
    """Since when all ``expected`` live pods have been Ready without a break (None: not now)."""
    live = [p for p in pods if is_live(p)]
    if len(live) < expected or expected == 0:
        return None
    since: datetime | None = None
    for pod in live:
        ready, changed = ready_condition(pod)
        if not ready or changed is None:
            return None
        since = changed if since is None else max(since, changed)
    return since
