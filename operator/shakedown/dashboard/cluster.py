"""The dashboard's cards, and the reads behind them: how each rollout's targets look now.

Thin and blocking (the watch threads call it). Credentials are the caller's
kubeconfig, found the way the CLI finds it (``adapters.kubeclient``); listing and
watching a kind is ``adapters.listwatch.CustomObjects``.
"""

from __future__ import annotations

from typing import Any

from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiException
from shakedown.adapters.listwatch import Obj
from shakedown.dashboard import render, rollout_views, views
from shakedown.dashboard.watches import Card

_WORKLOADS = {
    "Deployment": "read_namespaced_deployment",
    "StatefulSet": "read_namespaced_stateful_set",
    "DaemonSet": "read_namespaced_daemon_set",
}


def live_targets(api_client: Any, obj: Obj) -> dict[tuple[str, str], str]:
    """What each workload target of a rollout looks like now (or why it cannot be seen)."""
    apps = kubeclient.apps(api_client)
    namespace = obj.get("metadata", {}).get("namespace", "")
    found: dict[tuple[str, str], str] = {}
    for target in obj.get("spec", {}).get("targets") or []:
        kind, name = str(target.get("kind")), str(target.get("name"))
        method = _WORKLOADS.get(kind)
        if method is None:
            continue
        try:
            live = getattr(apps, method)(name, namespace, _request_timeout=(5, 10))
            found[(kind, name)] = rollout_views.workload_state(
                api_client.sanitize_for_serialization(live)
            )
        except ApiException as exc:
            found[(kind, name)] = "not found" if exc.status == 404 else f"cannot read: {exc.reason}"
    return found


def image_card() -> Card:
    return Card(
        id=lambda o: views.card_id("cir", o),
        key=views.sort_key,
        html=lambda o: render.image_card(views.image_view(o)),
    )


def rollout_card(api_client: Any) -> Card:
    return Card(
        id=lambda o: views.card_id("iro", o),
        key=views.sort_key,
        html=lambda o: render.rollout_card(
            rollout_views.rollout_view(o, live_targets(api_client, o))
        ),
    )
