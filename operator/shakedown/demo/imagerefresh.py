"""Demo scene: a ContainerImageRefresh that promotes, then one held back by a failing test.

A tiny "unit-tests" image (FROM the local busybox, its context in a
ConfigMap) is refreshed twice. Run 1 builds it in the cluster with buildah,
runs both scenarios against the new digest and moves the tag. Then one
scenario is broken and a run is requested the way a person would (the
``shakedown.dev/run-requested`` annotation, what ``shakedown trigger cir``
sets): the build succeeds, one scenario fails, and the tag stays on the
tested digest. Phases are printed as they happen, then the failing
scenario's log tail as status reports it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.builder import BUILDER_IMAGE_ENV
from shakedown.adapters.kubeclient import ApiException
from shakedown.api.imagerefresh import NAMES
from shakedown.demo.stage import Context, say, scene

PLURAL = NAMES.plural
NAME = "unit-tests"


def _local_registry() -> str:
    value = os.environ.get("REGISTRY")
    if value:
        return value
    from shakedown.localcluster.layout import Layout

    return Layout.default().network.registry


# The operator process inherits this; set before it starts (scenes load first).
os.environ.setdefault(BUILDER_IMAGE_ENV, f"{_local_registry()}/shakedown/builder:latest")

CHECK_OK = "#!/bin/sh\necho 'running 3 checks'; echo ok\n"
CHECK_BROKEN = (
    "#!/bin/sh\necho 'running 3 checks'; echo 'FAIL: test_parser (expected 2, got 3)'; exit 1\n"
)


def _containerfile(registry: str) -> str:
    return (
        f"FROM {registry}/shakedown/busybox:latest\n"
        "RUN echo 'unit-tests image' > /etc/motd\n"
        "COPY check.sh /usr/local/bin/run-tests\n"
    )


def _config_map(ctx: Context, check: str) -> None:
    assert ctx.registry is not None
    core = kubeclient.core(ctx.api)
    body = {
        "metadata": {"name": f"{NAME}-context"},
        "data": {"Containerfile": _containerfile(ctx.registry), "check.sh": check},
    }
    try:
        core.create_namespaced_config_map(ctx.namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map(f"{NAME}-context", ctx.namespace, body)


def _follow(ctx: Context, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """Print phase changes of run ``run_id`` until it finishes; its summary."""
    custom = ctx.custom()
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ctx.namespace, PLURAL, NAME)
        status = obj.get("status") or {}
        current = status.get("currentRun") or {}
        last = status.get("lastRun") or {}
        if current.get("id") == run_id and current.get("phase") != seen:
            seen = current["phase"]
            detail = str(current.get("message", ""))
            if detail.lower().startswith(seen.lower()):
                detail = detail[len(seen) :].strip()
            ctx.timeline.note(f"run {run_id}: {seen} {detail}".rstrip())
        if last.get("id") == run_id and last.get("finishedAt"):
            ctx.timeline.note(f"run {run_id}: {last['phase']} - {last.get('message', '')}")
            return dict(last)
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s")


@scene("imagerefresh", "ContainerImageRefresh: a refresh that promotes, one held back by a test")
def refresh(ctx: Context) -> None:
    if ctx.registry is None:
        raise RuntimeError("no registry known: set REGISTRY=host:port the cluster pulls from")
    from shakedown.adapters.registry import RegistryClient
    from shakedown.localcluster.builder_image import build_builder_image

    if ctx.registry == _local_registry() and not os.environ.get("KUBECONFIG"):
        say("  building the builder image (buildah, git from Debian; cached after the first time)")
        build_builder_image()
    image = f"{ctx.registry}/demo/{NAME}"
    registry = RegistryClient(ctx.registry, insecure=True)
    _config_map(ctx, CHECK_OK)
    spec = {
        "image": image,
        "tag": "stable",
        "insecureRegistry": True,
        "source": {"configMap": {"name": f"{NAME}-context"}},
        "tests": [
            {"name": "motd", "command": ["cat", "/etc/motd"], "timeout": "1m"},
            {"name": "suite", "command": ["/bin/sh", "/usr/local/bin/run-tests"], "timeout": "1m"},
        ],
    }
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ContainerImageRefresh",
        "metadata": {"name": NAME},
        "spec": spec,
    }
    ctx.custom().create_namespaced_custom_object(GROUP, VERSION, ctx.namespace, PLURAL, body)
    ctx.timeline.note(f"created ContainerImageRefresh {NAME} for {image}:stable")
    first = _follow(ctx, "1")
    if first["phase"] != "Succeeded":
        raise RuntimeError(f"run 1 ended {first['phase']}: {first.get('message')}")
    promoted = first["candidateDigest"]
    say(f"  {image}:stable -> {registry.resolve(f'demo/{NAME}', 'stable')}")

    _config_map(ctx, CHECK_BROKEN)
    ctx.custom().patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ctx.namespace,
        PLURAL,
        NAME,
        {"metadata": {"annotations": {f"{GROUP}/run-requested": f"demo-{int(time.time())}"}}},
    )
    ctx.timeline.note("broke the 'suite' scenario and requested a run (run-requested)")
    second = _follow(ctx, "2")
    now = registry.resolve(f"demo/{NAME}", "stable")
    for failed in second.get("failedTests") or []:
        say(f"  failed scenario {failed['name']}: {failed.get('reason')}")
        for line in str(failed.get("logTail", "")).rstrip().splitlines()[-5:]:
            say(f"    | {line}")
    say(f"  {image}:stable -> {now} ({'unchanged' if now == promoted else 'MOVED'})")
    if second["phase"] != "Failed" or now != promoted:
        raise RuntimeError("run 2 should have failed and left the tag alone")
    _config_map(ctx, CHECK_OK)
