"""``shakedown wait cir|iro NAME``: block until an object is done, and say so with the exit code.

A CI job that applied a ContainerImageRefresh or an InfraRollout needs the
verdict as an exit code, the way ``kubectl argo rollouts status`` gives one:

    0  the object reached what ``--for`` asks (default: condition Ready=True)
    1  it ended without reaching it: an InfraRollout Failed, RolledBack or
       Aborted; a refresh whose last run Failed or was Cancelled; a Stalled
       object (an invalid spec); or a final state other than the one awaited
    2  bad input, the object is not found (or deleted meanwhile), the cluster
       cannot be reached, or ``--timeout`` ran out

It follows the object with a watch (from the list's resourceVersion, listing
again after ``410 Gone``) and prints a line whenever its phase changes. The
decision (object in, done / failed / pending out) is the pure ``decide``.

Stale status never counts: the status must reflect the object's current
generation, and a refresh with a ``shakedown.dev/run-requested`` the operator
has not handled yet is pending, so ``shakedown trigger cir X && shakedown wait
cir X`` waits for the new run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from shakedown import GROUP, VERSION
from shakedown.api.annotations import RUN_REQUESTED
from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import RunPhase
from shakedown.api.infrarollout import RolloutPhase
from shakedown.cli.commands import add_command
from shakedown.cli.kube import add_object
from shakedown.cli.main import UserError
from shakedown.presentation.reading import observed

Obj = Mapping[str, Any]

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

IRO_FAILED = frozenset(p.value for p in RolloutPhase if p.failed)
CIR_FAILED = frozenset(p.value for p in RunPhase if p.failed)
_IRO_FINISHED = frozenset(p.value for p in RolloutPhase if p.finished)
_CIR_FINISHED = frozenset(p.value for p in RunPhase if p.finished)
_PHASES = {
    "InfraRollout": [p.value for p in RolloutPhase],
    "ContainerImageRefresh": [p.value for p in RunPhase],
}


class State(StrEnum):
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class Target:
    """What ``--for`` asks: a condition with a status, or a phase."""

    condition: str | None = None
    status: str = "True"
    phase: str | None = None

    def __str__(self) -> str:
        if self.phase is not None:
            return f"phase {self.phase}"
        return f"condition {self.condition}={self.status}"


@dataclass(frozen=True)
class Decision:
    state: State
    message: str


def parse_for(text: str, kind: str) -> Target:
    """``condition=NAME[=True|False|Unknown]`` or ``phase=PHASE``; a UserError naming --for."""
    what, _, rest = text.partition("=")
    if what == "condition" and rest:
        name, _, status = rest.partition("=")
        status = status or "True"
        normal = {"true": "True", "false": "False", "unknown": "Unknown"}.get(status.lower())
        if not name or normal is None:
            raise UserError(f"--for {text}: expected condition=NAME[=True|False|Unknown]")
        return Target(condition=name, status=normal)
    if what == "phase" and rest:
        phases = _PHASES[kind]
        match = next((p for p in phases if p.lower() == rest.lower()), None)
        if match is None:
            raise UserError(f"--for {text}: {kind} phases are {', '.join(phases)}")
        return Target(phase=match)
    raise UserError(f"--for {text}: expected condition=NAME[=STATUS] or phase=PHASE")


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    items = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in items if isinstance(c, Mapping)}


def phase_of(kind: str, obj: Obj) -> str:
    status = obj.get("status") or {}
    if kind == "InfraRollout":
        return str(status.get("phase") or "Pending")
    run = status.get("currentRun") or status.get("lastRun") or {}
    return str(run.get("phase") or "")


def decide(kind: str, obj: Obj, target: Target) -> Decision:
    """Whether ``obj`` reached ``target`` (done), ended otherwise (failed), or not yet (pending)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if not observed(obj):
        generation = int(meta.get("generation") or 0)
        return Decision(
            State.PENDING, f"waiting for the operator to observe generation {generation}"
        )
    if kind == "InfraRollout":
        revision = int(status.get("revision") or 0)
        phase = phase_of(kind, obj)
        in_flight = revision > 0 and phase not in _IRO_FINISHED
        finished = revision > 0 and not in_flight
        failed = finished and phase in IRO_FAILED
    else:
        request = (meta.get("annotations") or {}).get(RUN_REQUESTED)
        if request and request != status.get("handledRunRequest"):
            return Decision(State.PENDING, "a requested run has not started yet")
        in_flight = status.get("currentRun") is not None
        phase = phase_of(kind, obj)
        finished = not in_flight and phase in _CIR_FINISHED
        failed = finished and phase in CIR_FAILED
    conditions = _conditions(obj)
    if target.phase is not None:
        reached = phase == target.phase
    else:
        condition = conditions.get(target.condition or "")
        reached = (
            condition is not None
            and condition.get("status") == target.status
            and (not in_flight or target.condition == "Reconciling")
        )
    summary = _summary(kind, obj)
    if reached:
        return Decision(State.DONE, f"{target}: {summary}")
    if failed:
        return Decision(State.FAILED, f"ended {phase}: {summary}")
    stalled = conditions.get("Stalled") or {}
    if not in_flight and stalled.get("status") == "True":
        return Decision(
            State.FAILED, f"Stalled ({stalled.get('reason')}): {stalled.get('message')}"
        )
    if finished:
        return Decision(State.FAILED, f"ended {phase}, not {target}: {summary}")
    return Decision(State.PENDING, summary)


def _summary(kind: str, obj: Obj) -> str:
    status = obj.get("status") or {}
    if kind == "InfraRollout":
        text = status.get("waitingFor") or status.get("message") or ""
        return f"{phase_of(kind, obj)} (revision {status.get('revision') or 0}) {text}".strip()
    run = status.get("currentRun") or status.get("lastRun") or {}
    if not run:
        return "no run yet"
    return f"run {run.get('id')} {run.get('phase')} {run.get('message') or ''}".strip()


def progress_key(kind: str, obj: Obj) -> tuple[str, ...]:
    """What must change for a new progress line: the phase, and the revision or run."""
    status = obj.get("status") or {}
    if kind == "InfraRollout":
        return (str(status.get("revision") or 0), phase_of(kind, obj))
    run = status.get("currentRun") or status.get("lastRun") or {}
    return (str(run.get("id") or ""), phase_of(kind, obj))


# --------------------------------------------------------------------------- command
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "wait")
    add_object(parser, kind_help="cir or iro (or the full kind name)")
    parser.add_argument(
        "--for",
        dest="target",
        default="condition=Ready",
        metavar="WHAT",
        help="condition=NAME[=STATUS] or phase=PHASE (default: condition=Ready)",
    )
    parser.add_argument("--timeout", default="10m", help="give up after this long (default 10m)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from shakedown.adapters.kubeclient import ApiException, HTTPError
    from shakedown.adapters.listwatch import CustomObjects, Listing, follow
    from shakedown.cli.kube import current_namespace, custom_api, resolve_kind

    out = out or sys.stdout
    spec = resolve_kind(args.kind)
    target = parse_for(args.target, spec.kind)
    try:
        seconds = parse_duration(args.timeout)
    except ValueError as exc:
        raise UserError(f"--timeout {args.timeout}: {exc}") from None
    if seconds <= 0:
        raise UserError(f"--timeout {args.timeout}: must be more than 0s")
    api = custom_api()
    namespace = args.namespace or current_namespace()
    what = f"{spec.singular}/{args.name}"
    deadline = time.monotonic() + seconds
    source = CustomObjects(api, spec.plural, namespace, args.name, deadline=deadline)
    ended: list[int] = []
    last: tuple[str, ...] | None = None

    def seen(kind: str, obj: Obj) -> None:
        nonlocal last
        if ended:
            return
        if kind == "DELETED":
            print(f"{what}: deleted while waiting", file=sys.stderr)
            ended.append(EXIT_ERROR)
            return
        decision = decide(spec.kind, obj, target)
        key = progress_key(spec.kind, obj)
        if key != last and decision.state is State.PENDING:
            print(f"{what}: {decision.message}", file=out, flush=True)
        last = key
        if decision.state is not State.PENDING:
            print(f"{what}: {decision.message}", file=out, flush=True)
            ended.append(EXIT_DONE if decision.state is State.DONE else EXIT_FAILED)

    def listed(listing: Listing) -> None:
        for obj in listing.items:
            seen("LISTED", obj)

    try:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, spec.plural, args.name)
        follow(
            source,
            on_listed=listed,
            on_event=seen,
            stopped=lambda: bool(ended) or time.monotonic() >= deadline,
        )
        if ended:
            return ended[0]
    except ApiException as exc:
        if exc.status == 404:
            print(f"shakedown: {what} not found in namespace {namespace}", file=sys.stderr)
        else:
            print(f"shakedown: {exc.status} {exc.reason}", file=sys.stderr)
        return EXIT_ERROR
    except (HTTPError, OSError) as exc:
        print(f"shakedown: cannot reach the cluster: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"shakedown: timed out after {args.timeout} waiting for {what} {target}", file=sys.stderr)
    return EXIT_ERROR
