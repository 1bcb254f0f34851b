"""A shadow's ``isolate: true`` holds on the local cluster: NetworkPolicies are enforced.

The policy is the one the operator writes into a shadow namespace
(``planning.infrarollout.shadow.network_policy``). A pod in that namespace must
not reach a Service of another namespace (production) nor the registry, and
must still resolve names; before the policy, and after it is removed, the same
pod reaches both, so the test fails when nothing enforces policies.

A private cluster (its own network namespace and state directory) is used, so
that policies and the enforcer's iptables rules never touch the shared one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import yaml

from shakedown.planning.infrarollout.shadow import RolloutIdentity, network_policy
from tests.fixtures.cluster import PrivateCluster

pytestmark = pytest.mark.cluster

REGISTRY = "198.19.255.1:5000"
WEB = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: shadow}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: prod, labels: {{app: web}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {REGISTRY}/shakedown/busybox:latest
    command:
    - sh
    - -c
    - mkdir -p /www && echo hello-from-prod > /www/index.html && exec httpd -f -p 8080 -h /www
    readinessProbe: {{httpGet: {{path: /index.html, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: prod}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: shadow}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: {REGISTRY}/shakedown/busybox:latest
    command: [sleep, "3600"]
"""


def http_get(private: PrivateCluster, host: str, port: int, path: str) -> str:
    """What the client pod gets for ``GET path`` (empty when the connection fails)."""
    request = (
        f"printf 'GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | timeout 5 nc {host} {port}"
    )
    done = private.kubectl("exec", "-n", "shadow", "client", "--", "sh", "-c", request)
    return done.stdout


def reaches_prod(private: PrivateCluster) -> bool:
    return "hello-from-prod" in http_get(private, "web.prod.svc.cluster.local", 80, "/index.html")


def reaches_registry(private: PrivateCluster) -> bool:
    return " 200 " in http_get(private, "198.19.255.1", 5000, "/v2/")


def resolves(private: PrivateCluster) -> str:
    done = private.kubectl(
        "exec", "-n", "shadow", "client", "--",
        "timeout", "5", "nslookup", "web.prod.svc.cluster.local",
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else ""


def poll(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_isolated_shadow_reaches_only_its_namespace_and_dns(
    private_cluster: PrivateCluster,
) -> None:
    private = private_cluster
    started = private.shakedown("cluster", "up")
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr
    assert "kube-router" in started.stdout

    manifest = private.base / "web.yaml"
    manifest.write_text(WEB)
    applied = private.kubectl("apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    for ns, pod in (("prod", "web"), ("shadow", "client")):
        ready = private.kubectl("wait", "-n", ns, "--for=condition=Ready", f"pod/{pod}",
                                "--timeout=90s")  # fmt: skip
        assert ready.returncode == 0, ready.stderr
    service_ip = private.kubectl(
        "get", "-n", "prod", "service", "web", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()

    # Without a policy everything is reachable (so the checks below can fail).
    poll("the client to reach prod", lambda: reaches_prod(private))
    assert reaches_registry(private)
    assert service_ip in resolves(private)

    who = RolloutIdentity(name="tasks", namespace="prod", uid="0000", revision=1)
    policy_file = private.base / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(network_policy(who)))
    isolated = private.kubectl("apply", "-n", "shadow", "-f", str(policy_file))
    assert isolated.returncode == 0, isolated.stderr

    poll("the policy to cut the shadow off prod", lambda: not reaches_prod(private))
    assert not reaches_registry(private), "an isolated shadow reached the registry"
    assert service_ip in resolves(private), "an isolated shadow cannot resolve names"

    removed = private.kubectl("delete", "-n", "shadow", "networkpolicy", "--all")
    assert removed.returncode == 0, removed.stderr
    poll("prod to be reachable again without the policy", lambda: reaches_prod(private))
    assert reaches_registry(private)
