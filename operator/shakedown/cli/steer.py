"""Steering commands: trigger, rollback, promote, abort.

People steer shakedown with annotations, never by editing spec or status (a
GitOps tool would see the drift). Each command sets one annotation on the
object; the operator acts on every *new* value and records the last value it
handled in status:

- ``shakedown trigger cir NAME``      shakedown.dev/run-requested = a fresh timestamp
- ``shakedown rollback cir NAME``     shakedown.dev/rollback-to = previous promoted digest
  (``--to DIGEST`` picks another one from status.history)
- ``shakedown promote iro NAME``      shakedown.dev/promote = a fresh timestamp
- ``shakedown abort iro NAME``        shakedown.dev/abort = a fresh timestamp

``plan_*`` functions are pure (object in, annotation out) and unit tested; ``run``
only reads the object and patches its metadata.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.api.crdgen import kind_spec
from shakedown.api.names import KindNames
from shakedown.cli.kube import add_object
from shakedown.cli.main import UserError
from shakedown.presentation.steering import (
    Obj,
    Steer,
    plan_abort,
    plan_promote,
    plan_rollback,
    plan_trigger,
)


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    kind: str
    plan: Callable[[argparse.Namespace, Obj], Steer]


VERBS = (
    Verb(
        "trigger",
        "start a refresh run now (ContainerImageRefresh)",
        "ContainerImageRefresh",
        lambda args, obj: plan_trigger(obj),
    ),
    Verb(
        "rollback",
        "point the tag back to an earlier promoted digest (ContainerImageRefresh)",
        "ContainerImageRefresh",
        lambda args, obj: plan_rollback(obj, to=args.to),
    ),
    Verb(
        "promote",
        "skip the current pause of a rollout (InfraRollout)",
        "InfraRollout",
        lambda args, obj: plan_promote(obj),
    ),
    Verb(
        "abort",
        "stop a rollout and roll production back now (InfraRollout)",
        "InfraRollout",
        lambda args, obj: plan_abort(obj),
    ),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb in VERBS:
        short = kind_spec(verb.kind).names.short_name
        parser = subparsers.add_parser(
            verb.name,
            help=verb.help,
            description=f"{verb.help[0].upper()}{verb.help[1:]}. Sets an annotation only.",
        )
        add_object(parser, kind_help=f"{short} (the only kind {verb.name} takes)")
        if verb.name == "rollback":
            parser.add_argument(
                "--to", metavar="DIGEST", help="a digest from status.history (default: previous)"
            )
        parser.set_defaults(func=_runner(verb))


def _runner(verb: Verb) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return steer(args, verb)

    return run


def check_kind(verb: Verb, given: str) -> KindNames:
    try:
        spec = kind_spec(given.lower()).names
    except KeyError:
        raise UserError(f"unknown kind {given!r}: use cir or iro") from None
    if spec.kind != verb.kind:
        wanted = kind_spec(verb.kind).names.short_name
        hint = (
            " (use `shakedown abort iro NAME` to roll a rollout back)"
            if verb.name == "rollback"
            else ""
        )
        raise UserError(f"{verb.name} works on {wanted} only, not {given}{hint}")
    return spec


def steer(args: argparse.Namespace, verb: Verb) -> int:
    from shakedown.cli.kube import current_namespace, custom_api, talking_to_cluster

    spec = check_kind(verb, args.kind)
    api = custom_api()
    namespace = args.namespace or current_namespace()
    with talking_to_cluster(what=f'{spec.singular} "{args.name}"', namespace=namespace):
        action = _steer(api, spec, namespace, args, verb)
    print(action.says)
    return 0


def _steer(
    api: Any, spec: KindNames, namespace: str, args: argparse.Namespace, verb: Verb
) -> Steer:
    from shakedown.adapters.kubeclient import ApiException

    try:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, spec.plural, args.name)
        action = verb.plan(args, obj)
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            spec.plural,
            args.name,
            dict(action.patch().body),
        )
    except ApiException as exc:
        if exc.status == 404:
            raise UserError(
                f'{spec.singular} "{args.name}" not found in namespace {namespace}'
            ) from None
        raise UserError(f"{exc.status} {exc.reason}") from None
    return action
