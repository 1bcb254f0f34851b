"""Pods reach each other and the node address, and nothing else.

Runs in a private cluster (its own network namespace, which has no interface
to the outside at all), where a route to 198.18.200.0/24 through the node
interface stands in for "somewhere off the machine": the cluster's isolation
table (nftables ``inet shakedown``) must reject pod traffic routed there, while
the registry on the node address stays reachable from pods.

The NetworkPolicy enforcer runs meanwhile, its jump first in iptables' FORWARD
chain, where it ACCEPTs the pod traffic policies allow: the reject must come
first all the same (it once did not, and pods were routed off the node).
"""

from __future__ import annotations

import pytest

from shakedown.localcluster import isolation
from tests.fixtures.cluster import PrivateCluster

pytestmark = pytest.mark.cluster

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: 198.19.255.1:5000/shakedown/busybox:latest
    command:
    - sh
    - -c
    - |
      timeout 5 wget -q -O - http://198.19.255.1:5000/v2/ && echo registry-reachable
      timeout 5 wget -q -O - http://198.18.200.7/ 2>&1; echo "off-node exit $?"
"""


def test_pods_reach_the_node_but_are_not_forwarded_elsewhere(
    private_cluster: PrivateCluster,
) -> None:
    private = private_cluster
    started = private.shakedown("cluster", "up")
    assert started.returncode == 0, started.stdout[-1500:] + started.stderr
    route = private.run("ip", "route", "add", "198.18.200.0/24", "dev", "shakedown0")
    assert route.returncode == 0, route.stderr

    manifest = private.base / "probe.yaml"
    manifest.write_text(POD)
    assert private.kubectl("apply", "-f", str(manifest)).returncode == 0
    done = private.kubectl(
        "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/probe", "--timeout=90s"
    )
    assert done.returncode == 0, done.stderr + private.kubectl("describe", "pod/probe").stdout
    log = private.kubectl("logs", "probe").stdout

    assert "registry-reachable" in log, log
    assert "Connection refused" in log, log  # rejected at once, not left to time out
    assert "off-node exit 0" not in log, log
    table = private.run("nft", "list", "table", isolation.FAMILY, isolation.TABLE)
    assert isolation.rejected(table.stdout) >= 1, table.stdout + table.stderr
    # kube-router ran ahead of it in iptables' FORWARD chain all along.
    forward = private.run("iptables", "-t", "filter", "-S", "FORWARD").stdout.splitlines()
    assert "-j KUBE-ROUTER-FORWARD" in forward[1], forward
