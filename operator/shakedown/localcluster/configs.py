"""Configuration files and command lines of the local cluster's components.

Pure functions from a ``Layout`` to text or argument lists, so what each
component is told can be read (and unit-tested) in one place. Notable choices,
each explained where it is made: cgroupfs as cgroup driver (no systemd as PID
1 here), cgroup v1 accepted (``failCgroupV1: false``), kube-proxy in iptables
mode bound to the node address only, and a resolv.conf without upstream
servers so pods never send DNS queries off the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shakedown.localcluster.layout import Layout


def kubeconfig(layout: Layout, user: str, *, server: str | None = None) -> str:
    """A kubeconfig that authenticates with the client certificate ``pki/<user>.crt``."""
    pki = layout.pki
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "shakedown",
                "cluster": {
                    "server": server or layout.network.apiserver_url,
                    "certificate-authority": str(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki / f"{user}.crt"),
                    "client-key": str(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": "shakedown", "context": {"cluster": "shakedown", "user": user}}],
        "current-context": "shakedown",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def etcd_args(layout: Layout) -> list[str]:
    net = layout.network
    return [
        str(layout.binary("etcd")),
        "--name=shakedown",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls=http://127.0.0.1:{net.etcd_client_port}",
        f"--advertise-client-urls=http://127.0.0.1:{net.etcd_client_port}",
        f"--listen-peer-urls=http://127.0.0.1:{net.etcd_peer_port}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{net.etcd_peer_port}",
        f"--initial-cluster=shakedown=http://127.0.0.1:{net.etcd_peer_port}",
        "--listen-metrics-urls=",
        # A throwaway test cluster: losing the last writes on a power cut is fine.
        "--unsafe-no-fsync",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_args(layout: Layout) -> list[str]:
    net, pki = layout.network, layout.pki
    return [
        str(layout.binary("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{net.etcd_client_port}",
        f"--bind-address={net.node_ip}",
        f"--advertise-address={net.node_ip}",
        f"--secure-port={net.apiserver_port}",
        f"--service-cluster-ip-range={net.service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer=https://kubernetes.default.svc.{net.cluster_domain}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--profiling=false",
        "--event-ttl=1h",
        "--v=1",
    ]


#: The controllers run once, on one node: no election, no profiling endpoint.
_SINGLE_INSTANCE = ("--leader-elect=false", "--profiling=false", "--v=1")


def _controller_head(layout: Layout, binary: str, user: str) -> list[str]:
    """The binary, then the kubeconfig (of ``user``) it uses both to reach the API server and
    to check who calls it, and a listener on loopback only: the same for both controllers."""
    kubeconfig = layout.config / f"{user}.kubeconfig"
    return [
        str(layout.binary(binary)),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
    ]


def controller_manager_args(layout: Layout) -> list[str]:
    net, pki = layout.network, layout.pki
    return [
        *_controller_head(layout, "kube-controller-manager", "controller-manager"),
        f"--secure-port={net.controller_manager_port}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        "--use-service-account-credentials=true",
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={net.pod_cidr}",
        "--node-cidr-mask-size=24",
        f"--service-cluster-ip-range={net.service_cidr}",
        *_SINGLE_INSTANCE,
    ]


def scheduler_args(layout: Layout) -> list[str]:
    return [
        *_controller_head(layout, "kube-scheduler", "scheduler"),
        f"--secure-port={layout.network.scheduler_port}",
        *_SINGLE_INSTANCE,
    ]


def containerd_config(layout: Layout, *, sandbox_image: str) -> str:
    """containerd 1.6 configuration (version 2) with its own root, state and socket."""
    cri = "io.containerd.grpc.v1.cri"
    return f"""\
# Generated by shakedown; containerd of the local cluster only.
version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{layout.containerd_socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.state / "containerd" / "opt"}"

[plugins."{cri}"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This machine's capability bounding set lacks CAP_SYS_RESOURCE, so no process
  # may lower its oom_score_adj (runc init fails on the sandbox's -998); keep
  # every container's score at or above containerd's own.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384

  [plugins."{cri}".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."{cri}".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."{cri}".containerd.runtimes.runc.options]
        # No systemd as PID 1 on this machine: cgroupfs, like the kubelet.
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "{layout.runc_root}"

  [plugins."{cri}".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1

  [plugins."{cri}".registry]
    config_path = "{layout.state / "containerd" / "certs.d"}"
"""


def registry_hosts_toml(layout: Layout) -> str:
    """containerd's hosts.toml for the local registry: plain HTTP, pull and resolve."""
    reg = layout.network.registry
    return f"""\
server = "http://{reg}"

[host."http://{reg}"]
  capabilities = ["pull", "resolve", "push"]
  skip_verify = true
"""


def cni_conflist(layout: Layout) -> str:
    """Bridge + host-local + portmap, with addresses from the node's pod range."""
    net = layout.network
    doc = {
        "cniVersion": "1.0.0",
        "name": "shakedown",
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.pod_bridge,
                "isGateway": True,
                # No masquerading: pods only talk to each other and to the node
                # address; nothing leaves the machine.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.node_pod_cidr, "gateway": net.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def resolv_conf() -> str:
    """Pods with dnsPolicy Default get no upstream server (no traffic off the machine)."""
    return "# shakedown local cluster: no upstream DNS\noptions ndots:1\n"


def kubelet_config(layout: Layout) -> str:
    net, pki = layout.network, layout.pki
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": net.node_ip,
        "port": net.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": net.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        # No systemd as PID 1 here; containerd uses cgroupfs as well.
        "cgroupDriver": "cgroupfs",
        # This machine has cgroup v1 only; Kubernetes 1.34 still runs on it when
        # told so (1.35 refuses by default).
        "failCgroupV1": False,
        "cgroupRoot": f"/{net.cgroup_root}",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "clusterDomain": net.cluster_domain,
        "clusterDNS": [net.dns_service_ip],
        "resolvConf": str(layout.config / "resolv.conf"),
        "podLogsDir": str(layout.pod_logs),
        "podCIDR": net.node_pod_cidr,
        "hairpinMode": "hairpin-veth",
        "maxPods": 110,
        "serializeImagePulls": False,
        "failSwapOn": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "registerNode": True,
        "localStorageCapacityIsolation": True,
        "shutdownGracePeriod": "0s",
        # No CAP_SYS_RESOURCE here: the kubelet cannot lower its own score.
        "oomScoreAdj": 0,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kubelet_args(layout: Layout) -> list[str]:
    net, cfg = layout.network, layout.config
    return [
        str(layout.binary("kubelet")),
        f"--config={cfg / 'kubelet.yaml'}",
        f"--kubeconfig={cfg / 'kubelet.kubeconfig'}",
        f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={net.node_name}",
        f"--node-ip={net.node_ip}",
        "--v=1",
    ]


def kube_proxy_config(layout: Layout) -> str:
    net, cfg = layout.network, layout.config
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(cfg / "kube-proxy.kubeconfig")},
        "hostnameOverride": net.node_name,
        "bindAddress": net.node_ip,
        "healthzBindAddress": f"127.0.0.1:{net.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{net.proxy_metrics_port}",
        "mode": "iptables",
        "clusterCIDR": net.pod_cidr,
        "detectLocalMode": "ClusterCIDR",
        # NodePorts only on the node address, never on this machine's other interfaces.
        "nodePortAddresses": [f"{net.node_ip}/32"],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        # Leave the host's conntrack settings alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "oomScoreAdj": 0,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kube_proxy_args(layout: Layout) -> list[str]:
    return [
        str(layout.binary("kube-proxy")),
        f"--config={layout.config / 'kube-proxy.yaml'}",
        "--v=1",
    ]


def registry_config(layout: Layout) -> str:
    doc = {
        "version": 0.1,
        "log": {"level": "warn", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(layout.registry_data)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": layout.network.registry,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def registry_args(layout: Layout) -> list[str]:
    return ["/usr/bin/docker-registry", "serve", str(layout.config / "registry.yml")]


def containerd_args(layout: Layout) -> list[str]:
    return ["/usr/bin/containerd", f"--config={layout.config / 'containerd.toml'}"]


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` (creating parents), only when it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    path.write_text(text)
    path.chmod(mode)
