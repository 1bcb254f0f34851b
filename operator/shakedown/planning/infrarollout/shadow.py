"""Phase 2, Shadow: copies of the targets, with the change, in a namespace of their own.

The copies are made from the snapshot with the change applied (the very
objects production would receive), then fitted to live elsewhere: fields the
cluster set are dropped, the namespace is rewritten, workloads run
``shadow.replicas`` pods, and everything carries labels naming the rollout and
revision so cleanup can find it. Secrets are copied only when
``shadow.copySecrets`` lists them. With ``isolate``, a NetworkPolicy denies
traffic into and out of the namespace except within it and to DNS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from shakedown.planning.infrarollout.objects import (
    REVISION_LABEL,
    ROLLOUT_LABEL,
    ROLLOUT_NAMESPACE_LABEL,
    WORKLOAD_KINDS,
    Obj,
    ObjKey,
    clean,
    format_time,
)

SHADOW_LABEL = "shakedown.dev/shadow"
EXPIRES_ANNOTATION = "shakedown.dev/expires-at"
OWNER_ANNOTATION = "shakedown.dev/owner"
NETWORK_POLICY_NAME = "shakedown-isolate"
#: Order in which copies are created: what pods mount exists before the pods.
APPLY_ORDER = (
    "ResourceQuota",
    "LimitRange",
    "Secret",
    "ConfigMap",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
)


def shadow_namespace_name(namespace: str, rollout: str, revision: int) -> str:
    name = f"{namespace}-shadow-{rollout}-{revision}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:50].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class RolloutIdentity:
    """Who owns what shakedown creates."""

    name: str
    namespace: str
    uid: str
    revision: int

    def labels(self) -> dict[str, str]:
        return {
            ROLLOUT_LABEL: self.name,
            ROLLOUT_NAMESPACE_LABEL: self.namespace,
            REVISION_LABEL: str(self.revision),
        }

    def owner_reference(self) -> Obj:
        return {
            "apiVersion": "shakedown.dev/v1alpha1",
            "kind": "InfraRollout",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }


def namespace_manifest(
    name: str,
    who: RolloutIdentity,
    expires_at: datetime,
    pod_security: Mapping[str, str] | None = None,
) -> Obj:
    """The shadow namespace; ``pod_security``: its Pod Security labels (see confinement)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**(pod_security or {}), **who.labels(), SHADOW_LABEL: "true"},
            "annotations": {
                EXPIRES_ANNOTATION: format_time(expires_at),
                OWNER_ANNOTATION: f"{who.namespace}/{who.name}/{who.uid}",
            },
        },
    }


#: Where a cluster's DNS pods listen. A policy sees a packet after the Service
#: address was translated to the pod's, so the kube-dns Service's port 53 is not
#: what matches: CoreDNS often listens elsewhere (1053 on the local cluster, 5353
#: on some distributions) under the port names its manifests give, "dns" for UDP
#: and "dns-tcp" for TCP. Port 53 stays for DNS pods that do listen there.
DNS_PORTS: tuple[Obj, ...] = (
    {"protocol": "UDP", "port": 53},
    {"protocol": "TCP", "port": 53},
    {"protocol": "UDP", "port": "dns"},
    {"protocol": "TCP", "port": "dns-tcp"},
)


def network_policy(who: RolloutIdentity) -> Obj:
    """Default deny in and out, except between pods of the namespace and to DNS."""
    same_namespace: list[Obj] = [{"podSelector": {}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": NETWORK_POLICY_NAME, "labels": who.labels()},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": same_namespace}],
            "egress": [
                {"to": same_namespace},
                {
                    "to": [{"namespaceSelector": {}}],
                    "ports": [dict(port) for port in DNS_PORTS],
                },
            ],
        },
    }


def shadow_objects(
    desired: Mapping[ObjKey, Obj | None],
    *,
    who: RolloutIdentity,
    replicas: int,
    copy_secrets: Collection[str],
) -> dict[ObjKey, Obj]:
    """The copies to create in the shadow namespace (namespace set by the adapter)."""
    out: dict[ObjKey, Obj] = {}
    for key, obj in desired.items():
        if obj is None:
            continue
        if key.kind == "Secret" and key.name not in copy_secrets:
            continue
        copy = clean(obj)
        meta = copy["metadata"]
        meta.pop("namespace", None)
        meta["labels"] = {**(meta.get("labels") or {}), **who.labels()}
        if key.kind in WORKLOAD_KINDS and key.kind != "DaemonSet":
            copy.setdefault("spec", {})["replicas"] = replicas
        if key.kind == "Service" and copy.get("spec", {}).get("type") in (
            "NodePort",
            "LoadBalancer",
        ):
            copy["spec"]["type"] = "ClusterIP"
            copy["spec"].pop("externalTrafficPolicy", None)
        out[key] = copy
    return out


def apply_order(key: ObjKey) -> tuple[int, str]:
    kind = APPLY_ORDER.index(key.kind) if key.kind in APPLY_ORDER else len(APPLY_ORDER)
    return (kind, key.name)
