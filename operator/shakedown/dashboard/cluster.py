"""The dashboard's reads from the API server: list and watch a kind, and look at targets.

Thin and blocking (the watch threads call it). Credentials are the caller's
kubeconfig, found the way the CLI finds it (``adapters.kubeclient``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiException
from shakedown.dashboard import render, rollout_views, views
from shakedown.dashboard.watches import Card, Obj

#: Seconds a watch request stays open before it is renewed; reads give up after more.
WATCH_SECONDS = 50
READ_TIMEOUT = (5, WATCH_SECONDS + 20)


class KubeSource:
    """One kind, in one namespace or (``namespace=None``) in all."""

    def __init__(self, api_client: Any, plural: str, namespace: str | None) -> None:
        self.custom = kubeclient.custom(api_client)
        self.plural, self.namespace = plural, namespace

    def _call(self, **kwargs: Any) -> Any:
        if self.namespace is None:
            return self.custom.list_cluster_custom_object(GROUP, VERSION, self.plural, **kwargs)
        return self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, **kwargs
        )

    def list(self) -> tuple[list[Obj], str]:
        listed = self._call(_request_timeout=READ_TIMEOUT)
        return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
        stream = kubeclient.watch()
        for event in stream.stream(
            self._call,
            resource_version=resource_version,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=READ_TIMEOUT,
        ):
            yield str(event["type"]), event["object"]


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
