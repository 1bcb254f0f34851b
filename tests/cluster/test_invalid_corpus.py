"""Every object of the invalid corpus is refused naming its field, and can be deleted.

Issue 10's bar: one thing wrong in each object; the API server refuses it
naming the field (the CRD's schema and CEL rules), or the operator stalls it
with a condition naming the field; deleting each afterwards succeeds.

Schema cases are sent as ``kubectl apply`` sends them (field validation
Strict, so an unknown field is an error rather than silently dropped), with a
server-side dry run first and then for real, so nothing is created when the
dry run says no. Operator cases are created, must reach Stalled=True with the
field at the start of the message, and must then delete within seconds even
though the operator put its finalizer on them.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiClient, ApiException
from tests.fixtures.operator import RunningOperator
from tests.invalid_corpus import OPERATOR_CASES, PLURALS, SCHEMA_CASES, Case

pytestmark = pytest.mark.cluster


def names_field(message: str, field: str) -> bool:
    """Whether the refusal names ``field`` as a path of its own (not inside a longer one)."""
    return re.search(rf"(^|[\s\"'(\[]){re.escape(field)}(:|\s|\"|$)", message) is not None


def refusal(api: Any, ns: str, case: Case, *, dry_run: bool) -> str:
    body = case.manifest("corpus")
    try:
        api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURALS[case.kind],
            body,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
    except ApiException as exc:
        assert exc.status in (400, 422), (exc.status, exc.body)
        details = json.loads(exc.body or "{}")
        return str(details.get("message", exc.body))
    raise AssertionError(f"{case.id}: accepted; it should be refused naming {case.field}")


def test_the_api_server_refuses_each_schema_case_naming_the_field(
    k8s_api: ApiClient, namespace: str, own_crds: None
) -> None:
    api = kubeclient.custom(k8s_api)
    wrong: list[str] = []
    for case in SCHEMA_CASES:
        message = refusal(api, namespace, case, dry_run=True)
        if not names_field(message, case.field):
            wrong.append(f"{case.id}: does not name {case.field}: {message}")
    assert not wrong, "\n".join(wrong)
    # Refused for real too, and nothing of it exists afterwards.
    for case in SCHEMA_CASES[::10]:
        refusal(api, namespace, case, dry_run=False)
    for plural in set(PLURALS.values()):
        left = api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
        assert left == [], f"{plural}: {[o['metadata']['name'] for o in left]}"


def _conditions(obj: dict[str, Any]) -> dict[str, Any]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def test_the_operator_stalls_each_operator_case_naming_the_field_and_each_deletes(
    operator: RunningOperator, k8s_api: ApiClient, namespace: str, own_crds: None
) -> None:
    api = kubeclient.custom(k8s_api)
    created: dict[str, Case] = {}
    for index, case in enumerate(OPERATOR_CASES):
        name = f"op-{index:02d}"
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[case.kind], case.manifest(name)
        )
        created[name] = case

    pending = dict(created)
    messages: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for name, case in list(pending.items()):
            obj = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[case.kind], name
            )
            stalled = _conditions(obj).get("Stalled", {})
            messages[name] = f"{stalled.get('reason')}: {stalled.get('message')}"
            if stalled.get("status") == "True":
                del pending[name]
        time.sleep(0.5)
    assert not pending, {n: (c.id, messages.get(n)) for n, c in pending.items()}
    wrong = [
        f"{case.id}: {messages[name]}"
        for name, case in created.items()
        if not messages[name].split(": ", 1)[1].startswith(case.field)
    ]
    assert not wrong, "\n".join(wrong)

    # Each deletes promptly although the operator holds a finalizer on it.
    for name, case in created.items():
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[case.kind], name)
    deadline = time.monotonic() + 30
    left = set(created)
    while left and time.monotonic() < deadline:
        for name in list(left):
            try:
                api.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURALS[created[name].kind], name
                )
            except ApiException as exc:
                if exc.status == 404:
                    left.discard(name)
        time.sleep(0.3)
    assert not left, f"still there 30s after deletion: {sorted(left)}"
    assert "Traceback" not in operator.log()
