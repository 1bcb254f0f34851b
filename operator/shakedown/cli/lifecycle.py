"""``retry``, ``undo``, ``pause``, ``resume`` and ``suspend``: Argo's lifecycle verbs.

Like the other steering commands these set annotations the operator acts on
(``shakedown.dev/retry``, ``shakedown.dev/undo``, ``shakedown.dev/paused``; see
``shakedown.planning.infrarollout.steering``), with one exception:
``suspend``/``resume`` of a ContainerImageRefresh write ``spec.suspend``, the one
user-facing spec field meant to be flipped by hand, as ``kubectl argo rollouts
pause`` writes ``spec.paused``.

``plan_*`` are pure (object in, ``Patch`` out) and unit tested; ``run`` reads
the object, asks the plan, and patches.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.cli.describe_iro import IN_FLIGHT, pause_note
from shakedown.cli.kube import add_object
from shakedown.cli.main import UserError
from shakedown.planning.infrarollout.steering import (
    PAUSED_ANNOTATION,
    RETRY_ANNOTATION,
    RETRYABLE,
    UNDO_ANNOTATION,
    undo_value,
)
from shakedown.presentation.steering import (
    RUN_REQUESTED,
    Patch,
    annotate,
    fresh_value,
    plan_resume_refresh,
    plan_suspend_refresh,
)

CIR, IRO = "ContainerImageRefresh", "InfraRollout"
Obj = Mapping[str, Any]


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def plan_retry(obj: Obj, kind: str, *, now: datetime | None = None) -> Patch:
    name, status = _name(obj), _status(obj)
    if kind == CIR:
        last = (status.get("lastRun") or {}).get("phase")
        if status.get("currentRun"):
            raise UserError(f"containerimagerefresh/{name}: a run is in flight")
        if last != "Failed":
            raise UserError(
                f"containerimagerefresh/{name}: the last run is {last or 'missing'}, not Failed "
                f"(start a new run with `shakedown trigger cir {name}`)"
            )
        if _suspended(obj):
            # The operator drops run requests while suspended; say so rather than lose it.
            raise UserError(
                f"containerimagerefresh/{name} is suspended and would ignore the request: "
                f"`shakedown resume cir {name}` first"
            )
        return Patch(
            body=annotate(RUN_REQUESTED, fresh_value(now)),
            says=f"containerimagerefresh/{name}: retry of run {status['lastRun'].get('id')} "
            "requested",
        )
    phase = status.get("phase", "Pending")
    if not status.get("revision") or phase not in {p.value for p in RETRYABLE}:
        raise UserError(
            f"infrarollout/{name}: revision {status.get('revision', 0)} is {phase}; "
            "only a Failed, RolledBack or Aborted revision can be retried"
        )
    return Patch(
        body=annotate(RETRY_ANNOTATION, fresh_value(now)),
        says=f"infrarollout/{name}: retry requested (revision {status['revision'] + 1} "
        f"rolls out revision {status['revision']}'s change again)",
    )


def plan_undo(obj: Obj, *, to_revision: int | None, now: datetime | None = None) -> Patch:
    """Restore the snapshot that undoes ``to_revision``'s successors (default: the last one)."""
    name, status = _name(obj), _status(obj)
    revision = int(status.get("revision") or 0)
    phase = status.get("phase", "Pending")
    if revision == 0:
        raise UserError(f"infrarollout/{name}: nothing to undo (no revision yet)")
    if phase in IN_FLIGHT or phase == "RollingBack":
        raise UserError(
            f"infrarollout/{name}: revision {revision} is {phase}; "
            f"stop it with `shakedown abort iro {name}` instead"
        )
    if to_revision is None:
        if phase != "Succeeded" and not (phase == "Failed" and status.get("shiftStarted")):
            raise UserError(
                f"infrarollout/{name}: revision {revision} is {phase}, production is not on "
                "its change (use --to-revision N to go further back)"
            )
        restore, says = revision, f"undo of revision {revision}"
    else:
        if not 1 <= to_revision < revision:
            raise UserError(f"--to-revision {to_revision}: must be between 1 and {revision - 1}")
        results = {h.get("revision"): h.get("result") for h in status.get("history") or []}
        if results.get(to_revision) not in (None, "Succeeded"):
            raise UserError(
                f"--to-revision {to_revision}: that revision {results[to_revision]}, "
                "production never ran it"
            )
        restore, says = to_revision + 1, f"undo to revision {to_revision}"
    return Patch(
        body=annotate(UNDO_ANNOTATION, undo_value(restore, fresh_value(now))),
        says=f"infrarollout/{name}: {says} requested (production is restored from the "
        f"snapshot taken when revision {restore} started)",
        needs_snapshot=restore,
    )


def _suspended(obj: Obj) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def plan_pause(obj: Obj, kind: str) -> Patch:
    name = _name(obj)
    if kind == CIR:
        raise UserError(f"a ContainerImageRefresh is suspended: `shakedown suspend cir {name}`")
    return Patch(
        body=annotate(PAUSED_ANNOTATION, "true"),
        says=f"infrarollout/{name}: paused (the shift holds at its current step; checks "
        "still run and a failure still rolls back)",
    )


def plan_suspend(obj: Obj, kind: str) -> Patch:
    if kind != CIR:
        raise UserError(f"an InfraRollout is paused: `shakedown pause iro {_name(obj)}`")
    return plan_suspend_refresh(obj)


def plan_resume(obj: Obj, kind: str) -> Patch:
    name = _name(obj)
    if kind == CIR:
        return plan_resume_refresh(obj)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(PAUSED_ANNOTATION, "")).lower() != "true":
        note = pause_note(obj)
        hint = f" (it is paused {note})" if note else ""
        raise UserError(f"infrarollout/{name} is not paused by `shakedown pause`{hint}")
    return Patch(
        body=annotate(PAUSED_ANNOTATION, None),
        says=f"infrarollout/{name}: resumed",
    )


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    kinds: tuple[str, ...]
    plan: Callable[[argparse.Namespace, Obj, str], Patch]
    extra: Callable[[argparse.ArgumentParser], None] = field(default=lambda p: None)


def _to_revision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to-revision",
        metavar="N",
        type=int,
        help="undo every revision after N (default: undo the last revision)",
    )


VERBS = (
    Verb(
        "retry",
        "run a failed run (cir) or a failed/rolled back revision (iro) again",
        (CIR, IRO),
        lambda args, obj, kind: plan_retry(obj, kind),
    ),
    Verb(
        "undo",
        "roll production back to an earlier revision's snapshot (iro)",
        (IRO,),
        lambda args, obj, kind: plan_undo(obj, to_revision=args.to_revision),
        _to_revision,
    ),
    Verb(
        "pause",
        "hold a rollout's shift at its current step (iro)",
        (IRO, CIR),
        lambda args, obj, kind: plan_pause(obj, kind),
    ),
    Verb(
        "suspend",
        "stop new runs: sets spec.suspend=true, the one spec write (cir)",
        (CIR, IRO),
        lambda args, obj, kind: plan_suspend(obj, kind),
    ),
    Verb(
        "resume",
        "continue a paused rollout (iro) or a suspended refresh (cir: spec.suspend=false)",
        (IRO, CIR),
        lambda args, obj, kind: plan_resume(obj, kind),
    ),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb in VERBS:
        parser = subparsers.add_parser(
            verb.name,
            help=verb.help,
            description=f"{verb.help[0].upper()}{verb.help[1:]}. {_HOW[verb.name]}",
        )
        add_object(parser)
        verb.extra(parser)
        parser.set_defaults(func=_runner(verb))


_HOW = {
    "retry": "Sets shakedown.dev/run-requested (cir) or shakedown.dev/retry (iro).",
    "undo": (
        "Sets shakedown.dev/undo; the operator restores the snapshot taken when the revision "
        "after N started, and the rollout ends RolledBack. The spec is not changed: the "
        "change stays declared, and `shakedown retry iro NAME` rolls it out again."
    ),
    "pause": "Sets shakedown.dev/paused=true; `shakedown resume iro NAME` removes it.",
    "suspend": (
        "Unlike the other commands this writes the spec (spec.suspend), as kubectl argo "
        "rollouts pause does; a GitOps tool that owns the object will see the difference."
    ),
    "resume": "Removes shakedown.dev/paused (iro) or sets spec.suspend=false (cir, a spec write).",
}


def _runner(verb: Verb) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return apply(args, verb)

    return run


def apply(args: argparse.Namespace, verb: Verb) -> int:
    from shakedown.cli.kube import (
        current_namespace,
        custom_api,
        resolve_kind,
        talking_to_cluster,
    )

    spec = resolve_kind(args.kind)
    if spec.kind not in verb.kinds:
        raise UserError(f"{verb.name} works on iro only, not {args.kind}")
    namespace = args.namespace or current_namespace()
    api = custom_api()
    with talking_to_cluster(what=f'{spec.singular} "{args.name}"', namespace=namespace):
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, spec.plural, args.name)
    patch = verb.plan(args, obj, spec.kind)
    if patch.needs_snapshot is not None:
        _check_snapshot(namespace, args.name, patch.needs_snapshot)
    with talking_to_cluster(what=f'{spec.singular} "{args.name}"', namespace=namespace):
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, spec.plural, args.name, dict(patch.body)
        )
    print(patch.says)
    return 0


def _check_snapshot(namespace: str, rollout: str, revision: int) -> None:
    """Refuse an undo whose snapshot is gone (the revision never reached Snapshotting)."""
    from shakedown.adapters.kubeclient import ApiException
    from shakedown.cli.kube import core_api, talking_to_cluster
    from shakedown.planning.infrarollout.snapshot import snapshot_name

    name = snapshot_name(rollout, revision)
    with talking_to_cluster(what=f'snapshot Secret "{name}"', namespace=namespace):
        try:
            core_api().read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 403:
                return  # cannot look; the operator says when the snapshot is missing
            if exc.status == 404:
                raise UserError(
                    f"infrarollout/{rollout}: no snapshot of revision {revision} ({name}); "
                    "that revision never reached production"
                ) from None
            raise
