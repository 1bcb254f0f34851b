"""Where the local cluster keeps things, and which addresses it uses.

Two places: the *state* directory (``.shakedown/`` at the repository root:
PID files, logs, certificates, etcd data, kubelet and containerd state; thrown
away by ``down``) and the *cache* directory (``~/.cache/shakedown``: binaries
built from the pinned Go modules, the Go build cache, buildah's image store,
debootstrap tarballs; kept between runs so a warm start is fast).

Every address lives inside 198.18.0.0/15 or on loopback. The node address
(198.19.255.1) sits on an interface the cluster creates, so the host, containerd
and pods all reach the API server and the registry at the same address.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import overload

from shakedown.localcluster.errors import ClusterError

#: Kubernetes commands built from the pinned module (plus etcd from hack/kube/etcd).
KUBE_COMMANDS: tuple[str, ...] = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "kubectl",
)


def repo_root() -> Path:
    """The repository root: the first parent holding ``hack/kube/go.mod``."""
    env = os.environ.get("SHAKEDOWN_REPO")
    if env:
        return Path(env).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]:
        if (parent / "hack" / "kube" / "go.mod").is_file():
            return parent
    raise ClusterError(
        "cannot find the shakedown repository (hack/kube/go.mod); run from inside it "
        "or set SHAKEDOWN_REPO"
    )


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/shakedown`` (``~/.cache/shakedown`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shakedown"


def module_version(go_mod: Path, module: str) -> str:
    """The version ``go_mod`` requires for ``module`` (the one place it is pinned)."""
    text = go_mod.read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if match is None:
        raise ClusterError(f"{go_mod} does not require {module}; restore the file from git")
    return match.group(1)


@dataclass(frozen=True)
class Network:
    """Addresses and ports of one local cluster (all inside 198.18.0.0/15)."""

    node_ip: str = "198.19.255.1"
    node_interface: str = "shakedown0"
    pod_cidr: str = "198.18.0.0/16"
    node_pod_cidr: str = "198.18.0.0/24"
    pod_gateway: str = "198.18.0.1"
    pod_bridge: str = "cni0"
    service_cidr: str = "198.19.0.0/17"
    kubernetes_service_ip: str = "198.19.0.1"
    dns_service_ip: str = "198.19.0.10"
    cluster_domain: str = "cluster.local"
    apiserver_port: int = 6443
    registry_port: int = 5000
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    kubelet_port: int = 10250
    kubelet_healthz_port: int = 10248
    controller_manager_port: int = 10257
    scheduler_port: int = 10259
    proxy_healthz_port: int = 10256
    proxy_metrics_port: int = 10249
    node_name: str = "shakedown"
    cgroup_root: str = "shakedown"

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.node_ip}:{self.apiserver_port}"

    @property
    def registry(self) -> str:
        return f"{self.node_ip}:{self.registry_port}"

    def listeners(self) -> list[tuple[str, str, int]]:
        """(component, address, port) of every TCP port the cluster listens on."""
        return [
            ("etcd", "127.0.0.1", self.etcd_client_port),
            ("etcd", "127.0.0.1", self.etcd_peer_port),
            ("kube-apiserver", self.node_ip, self.apiserver_port),
            ("registry", self.node_ip, self.registry_port),
            ("kubelet", self.node_ip, self.kubelet_port),
            ("kubelet", "127.0.0.1", self.kubelet_healthz_port),
            ("kube-controller-manager", "127.0.0.1", self.controller_manager_port),
            ("kube-scheduler", "127.0.0.1", self.scheduler_port),
            ("kube-proxy", "127.0.0.1", self.proxy_healthz_port),
            ("kube-proxy", "127.0.0.1", self.proxy_metrics_port),
        ]


class Below:
    """A path below a directory attribute of its owner, read as an attribute.

    ``pids = Below("state", "pids")`` is ``layout.state / "pids"``: the many fixed
    places under the state and cache directories read as one table, a line each.
    """

    def __init__(self, root: str, *parts: str) -> None:
        self.root = root
        self.parts = parts

    @overload
    def __get__(self, instance: None, owner: type) -> Below: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Path: ...
    def __get__(self, instance: object, owner: type | None = None) -> Below | Path:
        if instance is None:
            return self  # read on the class (help(), inspect): the descriptor itself
        root: Path = getattr(instance, self.root)
        return root.joinpath(*self.parts)


@dataclass(frozen=True)
class Layout:
    """Paths of one local cluster: its state directory and the shared cache."""

    repo: Path
    state: Path
    cache: Path
    network: Network = field(default_factory=Network)

    @classmethod
    def default(cls) -> Layout:
        repo = repo_root()
        state = Path(os.environ.get("SHAKEDOWN_STATE") or repo / ".shakedown")
        network = Network(cgroup_root=os.environ.get("SHAKEDOWN_CGROUP_ROOT") or "shakedown")
        return cls(repo=repo, state=state.resolve(), cache=cache_root(), network=network)

    # -- versions and binaries (cache) -------------------------------------------------
    @property
    def kube_module_dir(self) -> Path:
        return self.repo / "hack" / "kube"

    @cached_property
    def kube_version(self) -> str:
        return module_version(self.kube_module_dir / "go.mod", "k8s.io/kubernetes")

    @property
    def kube_bin(self) -> Path:
        return self.cache / "kube" / self.kube_version / "bin"

    def binary(self, name: str) -> Path:
        return self.kube_bin / name

    images_cache = Below("cache", "images")
    buildah_root = Below("cache", "buildah", "root")
    buildah_runroot = Below("cache", "buildah", "runroot")

    # -- state ----------------------------------------------------------------------
    pids = Below("state", "pids")
    logs = Below("state", "logs")
    pki = Below("state", "pki")
    config = Below("state", "config")
    etcd_data = Below("state", "etcd")
    kubelet_root = Below("state", "kubelet")
    pod_logs = Below("state", "pod-logs")
    containerd_root = Below("state", "containerd", "root")
    containerd_state = Below("state", "containerd", "state")
    containerd_socket = Below("state", "containerd", "containerd.sock")
    runc_root = Below("state", "containerd", "runc")
    cni_conf_dir = Below("state", "cni", "net.d")
    cni_ipam_dir = Below("state", "cni", "ipam")
    registry_data = Below("state", "registry")
    kubeconfig = Below("state", "kubeconfig")
    env_file = Below("state", "env")

    @property
    def host_snapshot(self) -> Path:
        """What the host looked like before ``up`` (sysctls, directories), for ``down``."""
        return self.state / "host.json"

    @property
    def lock_file(self) -> Path:
        return self.state.parent / f"{self.state.name}.lock"

    def mount_roots(self) -> list[Path]:
        """Directories under which the cluster's mounts live."""
        return [self.state]
