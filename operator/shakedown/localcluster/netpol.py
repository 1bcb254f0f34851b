"""NetworkPolicy enforcement: kube-router's firewall, built from its pinned Go module.

The bridge CNI plugin enforces no NetworkPolicy, so without an enforcer a
shadow's ``isolate: true`` would be a promise nobody keeps. kube-router runs on
the host like kube-proxy, in firewall-only mode (no BGP routing, no service
proxy): it watches pods, namespaces and NetworkPolicies and turns them into
iptables chains (``KUBE-ROUTER-*``, ``KUBE-POD-FW-*``, ``KUBE-NWPLCY-*``) that
match ipsets of pod addresses (``KUBE-SRC-*``, ``KUBE-DST-*``). The chains go
with the others (they start with ``KUBE-``); the ipsets are removed here, once
no rule refers to them any more.

Its health and metrics servers would listen on every address of the machine,
so both are off; ``ready`` instead waits for its first sync (its chains exist).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from shakedown.localcluster import gobuild
from shakedown.localcluster.kubectl import apply_manifests
from shakedown.localcluster.layout import Layout, module_version

NAME = "kube-router"
MODULE = "github.com/cloudnativelabs/kube-router/v2"
USER = "system:kube-router"
#: Sets kube-router makes for policies (IPv6 ones carry an ``inet6:`` prefix).
IPSET_PREFIXES: tuple[str, ...] = ("KUBE-", "inet6:KUBE-")
#: The chain every forwarded packet passes once kube-router has synced.
READY_CHAIN = "KUBE-ROUTER-FORWARD"


def module_dir(layout: Layout) -> Path:
    return layout.repo / "hack" / NAME


def version(layout: Layout) -> str:
    return module_version(module_dir(layout) / "go.mod", MODULE)


def build(layout: Layout, *, say: Callable[[str], None] = print) -> Path:
    """The kube-router binary (built once per ``hack/kube-router`` content)."""
    say(f"kube-router {version(layout)} (NetworkPolicy enforcer)")
    return gobuild.build_static(
        layout, NAME, module_dir(layout), package=f"{MODULE}/cmd/kube-router", say=say
    )


def kubeconfig_path(layout: Layout) -> Path:
    return layout.config / "kube-router.kubeconfig"


def args(layout: Layout, binary: Path) -> list[str]:
    net = layout.network
    return [
        str(binary),
        f"--kubeconfig={kubeconfig_path(layout)}",
        f"--hostname-override={net.node_name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={net.service_cidr}",
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


def rbac_manifest() -> str:
    """What kube-router's firewall reads, for its own user; it writes nothing."""
    read = ["get", "list", "watch"]
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": USER},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
                    "verbs": read,
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": read,
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": USER,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def apply_rbac(layout: Layout) -> None:
    apply_manifests(layout, "kube-router-rbac.yaml", rbac_manifest())


def ready() -> bool:
    """kube-router has synced once: its forward chain exists in this network namespace."""
    proc = subprocess.run(
        ["iptables", "-t", "filter", "-n", "-L", READY_CHAIN],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


# -- ipsets ----------------------------------------------------------------------------
def _ipset() -> str | None:
    return shutil.which("ipset")


def our_ipsets() -> list[str]:
    """Names of kube-router's ipsets in this network namespace."""
    ipset = _ipset()
    if ipset is None:
        return []
    out = subprocess.run([ipset, "list", "-n"], capture_output=True, text=True, check=False)
    return sorted(n for n in out.stdout.split() if n.startswith(IPSET_PREFIXES))


def remove_ipsets() -> None:
    """Destroy kube-router's ipsets (after the chains that match them are gone)."""
    ipset = _ipset()
    if ipset is None:
        return
    for name in our_ipsets():
        subprocess.run([ipset, "destroy", name], capture_output=True, check=False)
