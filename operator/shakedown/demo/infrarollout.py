"""Demo scene: an InfraRollout that succeeds, then one rolled back during the bake.

A small web service (busybox httpd; its readiness probe reads ``/healthz``; the
page shows ``MESSAGE`` from its ConfigMap) is changed twice through one
InfraRollout. Revision 1 changes the message: it is proven in a shadow
namespace (pods Ready, a smoke Job in the candidate image), shifted, baked and
kept. Revision 2 also sets ``FAIL_AFTER``: the pods pass the shadow, then stop
answering their probe in production, and the operator restores the Deployment
and the ConfigMap from the snapshot by itself. The phases are printed as they
happen; the Events timeline follows at the end of the demo.

``sample_workload`` is shared with the benchmark.
"""

from __future__ import annotations

import time
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.demo.stage import Context, say, scene

SCRIPT = (
    'mkdir -p /www && echo ok > /www/healthz && echo "$MESSAGE" > /www/index.html && '
    'if [ -n "$FAIL_AFTER" ]; then (sleep "$FAIL_AFTER"; rm -f /www/healthz) & fi; '
    "exec httpd -f -p 8080 -h /www"
)


def sample_workload(
    name: str, image: str, *, replicas: int = 2, message: str = "v1"
) -> list[dict[str, Any]]:
    """ConfigMap, Service and Deployment of the sample web service."""
    labels = {"app": name}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config"},
            "data": {"MESSAGE": message},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "command": ["sh", "-c", SCRIPT],
                                "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 1,
                                    "failureThreshold": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]


def sample_targets(name: str) -> list[dict[str, str]]:
    """spec.targets naming the sample's three objects, so they roll (and roll back) together."""
    return [
        {"kind": "Deployment", "name": name},
        {"kind": "ConfigMap", "name": f"{name}-config"},
        {"kind": "Service", "name": name},
    ]


def config_change(name: str, data: dict[str, str]) -> dict[str, Any]:
    """spec.change: a merge patch of the sample ConfigMap's data (``MESSAGE``, ``FAIL_AFTER``)."""
    return {
        "patches": [
            {
                "target": {"kind": "ConfigMap", "name": f"{name}-config"},
                "type": "merge",
                "patch": {"data": data},
            }
        ]
    }


def index_check(name: str, message: str) -> dict[str, Any]:
    """An HTTP smoke check that the sample's index page shows ``message``."""
    return {
        "name": "index",
        "service": name,
        "port": 8080,
        "path": "/index.html",
        "expectBody": message,
        "attempts": 5,
    }


def rollout_spec(name: str, data: dict[str, str], *, bake: str, image: str) -> dict[str, Any]:
    """An InfraRollout changing the sample's ConfigMap, proven with a smoke Job."""
    return {
        "targets": sample_targets(name),
        "change": config_change(name, data),
        "shadow": {"ttl": "15m", "replicas": 1, "isolate": True},
        "smokeTests": {
            "readyFor": "3s",
            "jobs": [
                {
                    "name": "smoke",
                    "image": image,
                    "command": ["sh", "-c", "echo smoke test in the candidate image; true"],
                    "timeout": "2m",
                }
            ],
        },
        "strategy": {"type": "Replace"},
        "bake": bake,
        "rollback": {"automatic": True, "notReadyFor": "2s", "maxRestarts": 2},
        "timeout": "10m",
    }


def _busybox(ctx: Context) -> str:
    from shakedown.localcluster import images
    from shakedown.localcluster.layout import Layout

    return images.build_busybox(Layout.default(), say=lambda m: None).ref


def _create(ctx: Context, obj: dict[str, Any]) -> None:
    from shakedown.adapters.workloads import Kube, apply_object

    apply_object(Kube(kubeclient.connection(ctx.api)), ctx.namespace, obj)


def _follow(ctx: Context, name: str, revision: int, *, timeout: float = 240) -> dict[str, Any]:
    """Note each phase of one revision as it happens; return the final status."""
    custom = ctx.custom()
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(
            GROUP, VERSION, ctx.namespace, "infrarollouts", name
        )
        status = obj.get("status") or {}
        phase = status.get("phase", "")
        if status.get("revision") == revision and phase != seen:
            seen = phase
            detail = (
                status.get("rollbackReason") if phase == "RollingBack" else status.get("message")
            )
            ctx.timeline.note(f"iro/{name} revision {revision}: {phase} - {detail or ''}")
            if phase in ("Succeeded", "RolledBack", "Failed", "Aborted"):
                return dict(status)
        time.sleep(0.2)
    raise TimeoutError(f"iro/{name} revision {revision} did not finish in {timeout:.0f}s")


def _production(ctx: Context, name: str) -> str:
    core = kubeclient.core(ctx.api)
    apps = kubeclient.apps(ctx.api)
    data = core.read_namespaced_config_map(f"{name}-config", ctx.namespace).data
    deployment = apps.read_namespaced_deployment(name, ctx.namespace)
    annotations = deployment.spec.template.metadata.annotations or {}
    ready = deployment.status.ready_replicas or 0
    return (
        f"ConfigMap data={data}; Deployment {ready}/{deployment.spec.replicas} Ready, "
        f"config-hash={annotations.get('shakedown.dev/config-hash', '<none>')}"
    )


@scene("infrarollout", "InfraRollout: a change that succeeds, one rolled back during the bake")
def infrarollout(ctx: Context) -> None:
    name = "web"
    image = _busybox(ctx)
    custom = ctx.custom()

    def previous_gone() -> bool:
        # An earlier demo's rollout is finalized by the operator just started.
        items = custom.list_namespaced_custom_object(
            GROUP, VERSION, ctx.namespace, "infrarollouts"
        )["items"]
        return not any(i["metadata"]["name"] == name for i in items)

    ctx.wait_for(previous_gone, timeout=120, what="the previous demo's iro/web to be finalized")
    for obj in sample_workload(name, image):
        _create(ctx, obj)
    apps = kubeclient.apps(ctx.api)
    ctx.wait_for(
        lambda: (
            (apps.read_namespaced_deployment(name, ctx.namespace).status.ready_replicas or 0) == 2
        ),
        timeout=120,
        what="the web Deployment Ready",
    )
    ctx.timeline.note(f"production before: {_production(ctx, name)}")

    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InfraRollout",
        "metadata": {"name": name},
        "spec": rollout_spec(name, {"MESSAGE": "v2"}, bake="10s", image=image),
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ctx.namespace, "infrarollouts", body)
    ctx.timeline.note("iro/web created: change MESSAGE to v2 (Replace, bake 10s)")
    first = _follow(ctx, name, 1)
    ctx.timeline.note(f"revision 1 {first['phase']}; production: {_production(ctx, name)}")

    bad = rollout_spec(name, {"MESSAGE": "v3", "FAIL_AFTER": "8"}, bake="60s", image=image)
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ctx.namespace,
        "infrarollouts",
        name,
        {"spec": {"change": bad["change"], "bake": "60s"}},
    )
    ctx.timeline.note(
        "iro/web changed: MESSAGE v3 and FAIL_AFTER=8 (pods stop being Ready after 8s)"
    )
    second = _follow(ctx, name, 2)
    ctx.timeline.note(
        f"revision 2 {second['phase']}: {second.get('rollbackReason')}; "
        f"production: {_production(ctx, name)}"
    )

    ctx.shakedown("get", "iro", "-n", ctx.namespace)
    say("\nhistory:")
    for entry in second.get("history", []):
        say(f"  revision {entry['revision']}: {entry['result']} - {entry.get('reason', '')[:100]}")
