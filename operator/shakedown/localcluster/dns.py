"""Cluster DNS: CoreDNS built from its Go module, run as a Deployment.

The binary comes from ``hack/coredns`` (CoreDNS at the version that go.mod
pins, with only the plugins a cluster DNS needs) and is packed FROM scratch.
It answers for ``cluster.local`` and the reverse zones at the Service address
198.19.0.10 and forwards nothing: names outside the cluster are refused, so no
query ever leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from shakedown.adapters.registry import ImageRef
from shakedown.localcluster import api, gobuild, images
from shakedown.localcluster.kubectl import apply_manifests
from shakedown.localcluster.layout import Layout

NAMESPACE = "kube-system"

COREFILE = """\
.:1053 {
    errors
    health :8080 {
        lameduck 2s
    }
    ready :8181
    kubernetes %(domain)s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loop
    reload
    loadbalance
}
"""


def build_image(layout: Layout, *, say: Callable[[str], None] = print) -> ImageRef:
    binary = gobuild.build_static(layout, "coredns", layout.repo / "hack" / "coredns", say=say)
    containerfile = (
        'FROM scratch\nCOPY coredns /coredns\nUSER 65532:65532\nENTRYPOINT ["/coredns"]\n'
    )
    return images.build_image(
        layout, "coredns", containerfile=containerfile, context={"coredns": binary}, say=say
    )


def manifests(layout: Layout, image: str) -> str:
    """ServiceAccount, RBAC, Corefile, Deployment and the kube-dns Service."""
    net = layout.network
    labels = {"k8s-app": "kube-dns"}
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": NAMESPACE},
            "data": {"Corefile": COREFILE % {"domain": net.cluster_domain}},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": image,
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 2,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/health", "port": 8080},
                                    "periodSeconds": 10,
                                    "failureThreshold": 5,
                                },
                                "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": labels,
                "clusterIP": net.dns_service_ip,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
                ],
            },
        },
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def apply(layout: Layout, image: str) -> None:
    """Apply the DNS manifests with the pinned kubectl."""
    apply_manifests(layout, "coredns.yaml", manifests(layout, image))


def ready(layout: Layout) -> bool:
    dep = api.get_json(layout, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/coredns")
    return bool(dep and dep.get("status", {}).get("availableReplicas", 0) >= 1)
