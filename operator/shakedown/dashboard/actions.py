"""What the dashboard's buttons do: the CLI's steering, with the caller's credentials.

Each button sends the patch its CLI command sends (``shakedown.presentation.steering``
plans both, so the page and the terminal cannot drift apart): an annotation, or
for suspend and resume ``spec.suspend``, the documented switch. A refusal of the API server (403,
404, 422, ...) becomes ``ActionError`` carrying the server's own message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.presentation import steering as steer
from shakedown.presentation.errors import UserError

Obj = Mapping[str, Any]

PLURALS = {"cir": "containerimagerefreshes", "iro": "infrarollouts"}


class ActionError(Exception):
    """An action that was refused; the message is shown to the user as it is."""


def _steer(plan: Callable[[Obj], steer.Steer]) -> Callable[[Obj, Mapping[str, str]], steer.Patch]:
    return lambda obj, form: plan(obj).patch()


def _rollback(obj: Obj, form: Mapping[str, str]) -> steer.Patch:
    return steer.plan_rollback(obj, to=form.get("digest") or None).patch()


#: (kind, verb) -> how to make the patch from the object and the submitted form.
ACTIONS: dict[tuple[str, str], Callable[[Obj, Mapping[str, str]], steer.Patch]] = {
    ("cir", "trigger"): _steer(steer.plan_trigger),
    ("cir", "rollback"): _rollback,
    ("cir", "suspend"): lambda obj, form: steer.plan_suspend_refresh(obj),
    ("cir", "resume"): lambda obj, form: steer.plan_resume_refresh(obj),
    ("iro", "promote"): _steer(steer.plan_promote),
    ("iro", "abort"): _steer(steer.plan_abort),
}


def plan(kind: str, verb: str, obj: Obj, form: Mapping[str, str]) -> steer.Patch:
    """The patch for ``verb`` on ``obj``; ``ActionError`` for what cannot be done."""
    make = ACTIONS.get((kind, verb))
    if make is None:
        raise ActionError(f"unknown action {kind}/{verb}")
    try:
        return make(obj, form)
    except UserError as exc:
        raise ActionError(str(exc)) from None


def api_message(exc: Any) -> str:
    """The API server's own words for a refusal: ``403 Forbidden: <its message>``."""
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    detail = ""
    body = getattr(exc, "body", None)
    if body:
        try:
            parsed = json.loads(body)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, dict) and parsed.get("message"):
            detail = str(parsed["message"])
    head = " ".join(str(p) for p in (status, reason) if p)
    if detail:
        return f"{head}: {detail}" if head else detail
    return head or str(exc)


def run(api: Any, kind: str, verb: str, namespace: str, name: str, form: Mapping[str, str]) -> str:
    """Read the object, patch it; what to tell the user. Blocking: call from a thread."""
    from shakedown.adapters.kubeclient import ApiException, HTTPError

    plural = PLURALS.get(kind)
    if plural is None:
        raise ActionError(f"unknown kind {kind!r}")
    try:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        patch = plan(kind, verb, obj, form)
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, dict(patch.body)
        )
    except ApiException as exc:
        raise ActionError(api_message(exc)) from None
    except HTTPError as exc:
        raise ActionError(f"cannot reach the API server: {exc}") from None
    return patch.says
