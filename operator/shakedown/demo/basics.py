"""Demo scene ``basics``: the API itself.

Every example is accepted by the API server, bad input is refused naming the
field, a valid object gets conditions, a cron that never fires is Stalled with
the field named, and fixing it clears the condition.
"""

from __future__ import annotations

from typing import Any

import yaml

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiException
from shakedown.demo.stage import REPO, Context, scene


def _cir(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": "registry.ci.example.com/ci/unit-tests",
        "source": {"configMap": {"name": "unit-tests-context"}},
        "tests": [{"name": "smoke", "command": ["/bin/true"]}],
        "suspend": True,
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ContainerImageRefresh",
        "metadata": {"name": name},
        "spec": body,
    }


@scene("basics", "The API: refused input, conditions, Stalled naming the field")
def basics(ctx: Context) -> None:
    custom = ctx.custom()
    plural = "containerimagerefreshes"
    dyn = kubeclient.dynamic(ctx.api)

    # 1. Every example is accepted by the API server (a server-side dry run: the
    #    examples point at registries and git servers that do not exist here).
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc:
                continue
            resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            resource.create(body=doc, namespace=ctx.namespace, query_params=[("dryRun", "All")])
        ctx.timeline.note(f"examples/{path.name}: accepted by the API server (dry run)")

    # 2. Bad input is refused, and the message names the field.
    broken = _cir("broken", tests=[{"name": "smoke", "timeout": "30 minutes"}])
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, ctx.namespace, plural, broken)
    except ApiException as exc:
        message = yaml.safe_load(exc.body or "{}").get("message", "")
        ctx.timeline.note(f"refused by the API server: {message}")

    # 3. A valid object gets kstatus conditions within seconds.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ctx.namespace, plural, _cir("basics-suspended")
    )
    found = ctx.wait_for(
        lambda: ctx.conditions(plural, "basics-suspended"), timeout=30, what="conditions"
    )
    ready = found.get("Ready", {})
    ctx.timeline.note(
        f"cir/basics-suspended: Ready={ready.get('status')} ({ready.get('reason')}): "
        f"{ready.get('message')}"
    )

    # 4. A cron that parses but never fires: Stalled, with the field named.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ctx.namespace, plural, _cir("basics-nightly", schedule="0 3 30 2 *")
    )

    def stalled() -> dict[str, Any] | None:
        cond = ctx.conditions(plural, "basics-nightly").get("Stalled", {})
        return cond if cond.get("status") == "True" else None

    cond = ctx.wait_for(stalled, timeout=30, what="Stalled on cir/basics-nightly")
    ctx.timeline.note(f"cir/basics-nightly: Stalled ({cond['reason']}): {cond['message']}")

    # 5. Fixing the field clears it.
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ctx.namespace, plural, "basics-nightly", {"spec": {"schedule": "0 3 * * *"}}
    )

    def recovered() -> dict[str, Any] | None:
        cond = ctx.conditions(plural, "basics-nightly").get("Stalled", {})
        return cond if cond.get("status") == "False" else None

    ctx.wait_for(recovered, timeout=30, what="Stalled=False on cir/basics-nightly")
    ctx.timeline.note("cir/basics-nightly: schedule fixed -> Stalled=False")

    ctx.shakedown("get", "cir", "-n", ctx.namespace)
