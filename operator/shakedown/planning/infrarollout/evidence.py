"""Is the shadow evidently broken? A judgement over its pods and their Events.

Waiting for ``spec.timeout`` to fail a shadow that crash-loops, cannot pull its
image or cannot be scheduled wastes half an hour of a pull request's time. The
evidence that it never will pass is on the pods themselves, and the operator is
woken by watch events when it appears, so this pure function turns observed
pods (and the Events about them, for the last probe failure) into a verdict
that names the pod and the evidence:

- a container that restarted, or terminated with a non-zero exit code;
- an image that cannot be pulled, or a container that cannot be created;
- a pod the scheduler reported Unschedulable;
- a pod that was Ready and turned NotReady (while readiness is judged);
- a pod not Ready by ``smokeTests.readyTimeout`` (while readiness is judged).

Each piece of evidence carries the moment it appeared (the pod's own condition
or container state time, or its Event's), so the reaction can be measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shakedown.planning.infrarollout.bake import fatal_waiting, is_live, ready_condition, was_ready
from shakedown.planning.infrarollout.objects import CHECK_LABEL, Meta, parse_time

Pod = Mapping[str, Any]
Event = Mapping[str, Any]

#: Waiting reasons of a container whose image cannot be had.
IMAGE_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
#: Waiting reasons of a container that cannot be created or started as specified.
START_FAILURES = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
#: How long a NotReady verdict waits for the probe failure's Event to name it.
PROBE_EVENT_GRACE = 2.0
#: Scheduler messages that clear by themselves (a volume being provisioned).
_TRANSIENT_UNSCHEDULABLE = ("unbound immediate PersistentVolumeClaims",)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Evidence:
    """Why the shadow is broken, said about one pod."""

    pod: str
    reason: str
    """CamelCase: CrashLoop, ImagePull, ContainerStart, Unschedulable, NotReady, ReadyTimeout."""
    message: str
    at: datetime | None = None
    """When the evidence appeared, by the cluster's clock (None: unknown)."""


@dataclass(frozen=True)
class ShadowVerdict:
    broken: Evidence | None = None
    recheck_at: datetime | None = None
    """When the clock alone could change the verdict (readyTimeout, the probe Event grace)."""


def judge_shadow(
    pods: Iterable[Pod],
    events: Sequence[Event] = (),
    *,
    now: datetime,
    readiness: bool = True,
    ready_deadline: datetime | None = None,
    ready_timeout: str = "",
) -> ShadowVerdict:
    """The first evidence that the shadow is broken, pod by pod in name order.

    Crashes, image and scheduling failures count for the whole smoke stage;
    readiness (Ready turning NotReady, or not Ready by ``ready_deadline``) only
    while ``readiness`` is judged, i.e. until the ``ready`` check passed.
    """
    # The pods of the checks themselves (an HTTP probe, a test Job) are judged by
    # their check: a failing test is the test's verdict, not a broken shadow.
    live = sorted(
        (p for p in pods if is_live(p) and CHECK_LABEL not in Meta.of(p).labels),
        key=lambda p: Meta.of(p).name,
    )
    for pod in live:
        found = _fatal(pod, events)
        if found is not None:
            return ShadowVerdict(found)
    if not readiness:
        return ShadowVerdict()
    recheck: datetime | None = None
    for pod in live:
        ready, changed = ready_condition(pod)
        if ready or not was_ready(pod, changed):
            continue
        name = Meta.of(pod).name
        probe = last_event(events, name, reasons=("Unhealthy",))
        if probe is None and changed is not None:
            wait_until = changed + timedelta(seconds=PROBE_EVENT_GRACE)
            if now < wait_until:  # the kubelet's Event usually lands a moment later
                recheck = wait_until if recheck is None else min(recheck, wait_until)
                continue
        detail = _event_text(probe) or _ready_message(pod)
        return ShadowVerdict(
            Evidence(
                name,
                "NotReady",
                f"pod {name} was Ready and turned NotReady at {_hms(changed)}: {detail}",
                at=changed,
            )
        )
    if ready_deadline is not None:
        if now >= ready_deadline:
            for pod in live:
                ready, _ = ready_condition(pod)
                if ready:
                    continue
                name = Meta.of(pod).name
                return ShadowVerdict(
                    Evidence(
                        name,
                        "ReadyTimeout",
                        f"pod {name} not Ready within smokeTests.readyTimeout {ready_timeout}: "
                        f"{_not_ready_detail(pod, events)}",
                        at=ready_deadline,
                    )
                )
        else:
            recheck = ready_deadline if recheck is None else min(recheck, ready_deadline)
    return ShadowVerdict(recheck_at=recheck)


def _fatal(pod: Pod, events: Sequence[Event]) -> Evidence | None:
    name = Meta.of(pod).name
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
            and not any(t in str(condition.get("message")) for t in _TRANSIENT_UNSCHEDULABLE)
        ):
            message = str(condition.get("message") or "").strip() or "no node fits"
            return Evidence(
                name,
                "Unschedulable",
                f"pod {name} cannot be scheduled: {message}",
                at=parse_time(condition.get("lastTransitionTime")),
            )
    for status in _container_statuses(pod):
        container = status.get("name")
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if fatal_waiting(waiting, IMAGE_FAILURES | START_FAILURES):
            event = last_event(events, name, reasons=("Failed",))
            detail = str(waiting.get("message") or "").strip() or _event_text(event)
            kind = "ImagePull" if reason in IMAGE_FAILURES else "ContainerStart"
            return Evidence(
                name,
                kind,
                f"pod {name} container {container}: {reason}: {detail}".rstrip(": "),
                at=_event_time(event, first=True) if event is not None else None,
            )
        terminated = state.get("terminated") or {}
        exit_code = terminated.get("exitCode")
        if terminated and exit_code not in (0, None) and not status.get("restartCount"):
            return _crash(name, container, f"terminated with exit code {exit_code}", terminated)
        count = int(status.get("restartCount") or 0)
        if count > 0:
            last = (status.get("lastState") or {}).get("terminated") or terminated
            code = last.get("exitCode")
            looping = " (CrashLoopBackOff)" if reason == "CrashLoopBackOff" else ""
            plural = "s" if count != 1 else ""
            what = f"restarted {count} time{plural}{looping}; last exit code {code}"
            return _crash(name, container, what, last)
    return None


def _crash(pod: str, container: object, what: str, terminated: Mapping[str, Any]) -> Evidence:
    """CrashLoop evidence from a container's ``terminated`` state (the last one or this one)."""
    return Evidence(
        pod,
        "CrashLoop",
        f"pod {pod} container {container} {what}{_why(terminated)}",
        at=parse_time(terminated.get("finishedAt")),
    )


def last_event(events: Sequence[Event], pod: str, *, reasons: Sequence[str]) -> Event | None:
    """The most recent Event about ``pod`` with one of ``reasons``."""
    mine = [
        e
        for e in events
        if (e.get("involvedObject") or {}).get("kind") == "Pod"
        and (e.get("involvedObject") or {}).get("name") == pod
        and e.get("reason") in reasons
    ]
    if not mine:
        return None
    return max(mine, key=lambda e: _event_time(e) or _EPOCH)


def event_time(event: Event, *, first: bool = False) -> datetime | None:
    """When an Event happened (its first or its latest occurrence)."""
    return _event_time(event, first=first)


def _event_time(event: Event | None, *, first: bool = False) -> datetime | None:
    if event is None:
        return None
    series = (event.get("series") or {}).get("lastObservedTime")
    order = (
        ("firstTimestamp", "eventTime", "lastTimestamp")
        if first
        else ("lastTimestamp", "eventTime", "firstTimestamp")
    )
    if not first and series:
        return parse_time(series)
    for key in order:
        value = parse_time(event.get(key))
        if value is not None:
            return value
    return Meta.of(event).created


def _event_text(event: Event | None) -> str:
    if event is None:
        return ""
    return f"{event.get('reason')}: {str(event.get('message') or '').strip()}"


def _not_ready_detail(pod: Pod, events: Sequence[Event]) -> str:
    probe = last_event(events, Meta.of(pod).name, reasons=("Unhealthy",))
    if probe is not None:
        return _event_text(probe)
    for status in _container_statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            text = f"container {status.get('name')} {waiting['reason']}"
            return f"{text}: {waiting['message']}" if waiting.get("message") else text
    return _ready_message(pod)


def _ready_message(pod: Pod) -> str:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("message") or condition.get("reason") or "not Ready")
    return "no Ready condition yet"


def _container_statuses(pod: Pod) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _why(terminated: Mapping[str, Any]) -> str:
    parts = [str(terminated[k]).strip() for k in ("reason", "message") if terminated.get(k)]
    return f" ({': '.join(parts)})" if parts else ""


def _hms(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S}" if moment is not None else "an unknown time"
