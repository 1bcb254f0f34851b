"""HTTP: a request through a Service, made from inside the cluster.

The operator may run outside the cluster (and the shadow is isolated), so the
request is made by a short-lived pod in the checked namespace: a plain HTTP/1.0
request written with busybox ``nc`` to the Service's ClusterIP (busybox's
static ``wget`` crashes resolving addresses without NSS), retried ``attempts``
times. The pod writes
its verdict to its termination message, which the API server keeps, so no log
streaming from the kubelet is needed.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.checks.base import (
    CheckContext,
    CheckOutcome,
    object_name,
    probe_image,
    termination_message,
)
from shakedown.planning.infrarollout.objects import CHECK_LABEL

_SCRIPT = r"""
i=0; last=""
while [ "$i" -lt {attempts} ]; do
  i=$((i+1))
  resp=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: shakedown\r\n\r\n' {path} {host} \
         | nc -w {timeout} {address} {port} 2>&1)
  code=$(printf '%s\n' "$resp" | head -n 1 | sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p')
  if [ "$code" = "{expect}" ]; then
    if [ -z {body} ] || printf '%s\n' "$resp" | awk 'f;/^\r?$/{{f=1}}' | grep -q -F -- {body}; then
      echo "HTTP $code from {url} (attempt $i)" > /dev/termination-log; exit 0
    fi
    last="HTTP $code from {url} but the body lacks "{body}
  else
    detail=$(printf '%s\n' "$resp" | head -n 1 | tr -d '\r')
    last="expected HTTP {expect} from {url}, got ${{code:-no response}} ${{detail}}"
  fi
  sleep 1
done
echo "$last (after $i attempts)" | tail -c 900 > /dev/termination-log; exit 1
"""


class HttpCheck:
    async def run(self, ctx: CheckContext, spec: Mapping[str, Any]) -> CheckOutcome:
        service_name = str(spec["service"])
        service = await ctx.call(ctx.kube.get, "Service", ctx.namespace, service_name)
        if service is None:
            return CheckOutcome(False, f"Service {service_name} not found in {ctx.namespace}")
        address = service.get("spec", {}).get("clusterIP")
        if not address or address == "None":
            address = f"{service_name}.{ctx.namespace}.svc"
        if str(spec.get("scheme", "HTTP")).upper() != "HTTP":
            return CheckOutcome(False, "scheme HTTPS is not supported by the in-cluster probe yet")
        path = str(spec.get("path", "/"))
        url = f"http://{service_name}:{spec['port']}{path}"
        timeout = parse_duration(str(spec.get("timeout", "5s")))
        attempts = int(spec.get("attempts", 3))
        script = _SCRIPT.format(
            attempts=attempts,
            timeout=max(1, timeout),
            url=shlex.quote(url),
            path=shlex.quote(path),
            host=shlex.quote(service_name),
            address=shlex.quote(address),
            port=int(spec["port"]),
            expect=int(spec.get("expectStatus", 200)),
            body=shlex.quote(str(spec.get("expectBody") or "")),
        )
        name = object_name("shakedown-http", str(spec["name"]), ctx.revision)
        pod = {
            "metadata": {
                "name": name,
                "labels": {**ctx.labels, CHECK_LABEL: str(spec["name"])},
            },
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "http",
                        "image": probe_image(),
                        "command": ["sh", "-c", script],
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True,
                            "runAsUser": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                ],
            },
        }
        if await ctx.call(ctx.kube.get, "Pod", ctx.namespace, name) is None:
            await ctx.call(ctx.kube.create, "Pod", ctx.namespace, pod)
        budget = attempts * (timeout + 2) + 120
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        while loop.time() < deadline:
            current = await ctx.call(ctx.kube.get, "Pod", ctx.namespace, name)
            phase = (current or {}).get("status", {}).get("phase")
            if phase == "Succeeded":
                return CheckOutcome(
                    True, termination_message(current or {}) or f"HTTP OK from {url}"
                )
            if phase == "Failed":
                return CheckOutcome(
                    False, termination_message(current or {}) or f"request to {url} failed"
                )
            await asyncio.sleep(1.0)
        return CheckOutcome(False, f"HTTP check pod {name} did not finish in {budget}s")
