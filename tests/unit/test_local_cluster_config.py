"""What the local cluster tells its components, checked without starting anything.

The properties that matter to this machine: every address is on loopback or
inside 198.18.0.0/15, every state path is under the cluster's own directories
(nothing collides with a system installation), certificates cover the
addresses clients use, and the version comes from the one place it is pinned.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from shakedown.localcluster import configs, dns, gobuild, images, netpol, pki, procs
from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Layout, Network, module_version

ALLOWED = [ipaddress.IPv4Network("198.18.0.0/15"), ipaddress.IPv4Network("127.0.0.0/8")]
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?![\d.])")


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(repo=tmp_path / "repo", state=tmp_path / "state", cache=tmp_path / "cache")


def everything_rendered(layout: Layout) -> str:
    object.__setattr__(layout, "kube_version", "v1.2.3")  # no go.mod in the temporary repo
    parts = [
        configs.kubeconfig(layout, "admin"),
        configs.containerd_config(layout, sandbox_image=f"{layout.network.registry}/p:1"),
        configs.registry_hosts_toml(layout),
        configs.cni_conflist(layout),
        configs.kubelet_config(layout),
        configs.kube_proxy_config(layout),
        configs.registry_config(layout),
        dns.manifests(layout, f"{layout.network.registry}/shakedown/coredns:x"),
        netpol.rbac_manifest(),
    ]
    for args in (
        configs.etcd_args(layout),
        configs.apiserver_args(layout),
        configs.controller_manager_args(layout),
        configs.scheduler_args(layout),
        configs.kubelet_args(layout),
        configs.kube_proxy_args(layout),
        configs.containerd_args(layout),
        configs.registry_args(layout),
        netpol.args(layout, layout.cache / "bin" / "kube-router"),
    ):
        parts.append(" ".join(args))
    return "\n".join(parts)


def test_every_address_is_on_loopback_or_inside_198_18_0_0_15(layout: Layout) -> None:
    text = everything_rendered(layout)
    found = IPV4.findall(text)
    assert len(found) > 20  # the check below really looked at addresses
    for address, prefix in found:
        if address == "0.0.0.0" and prefix == "/0":
            continue  # the pods' default route, via the bridge: still only our gateway
        net = ipaddress.IPv4Network(address + (prefix or "/32"), strict=False)
        assert any(net.subnet_of(allowed) for allowed in ALLOWED), f"{address}{prefix}"


def test_kube_router_only_enforces_policies_and_listens_nowhere(layout: Layout) -> None:
    # Its health server would bind every address of the machine (":20244"), its BGP
    # router and service proxy would change routes and take over from kube-proxy.
    args = netpol.args(layout, layout.cache / "kube-router")
    for flag in ("--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
                 "--health-port=0", "--metrics-port=0", "--enable-cni=false"):  # fmt: skip
        assert flag in args, flag
    assert f"--service-cluster-ip-range={layout.network.service_cidr}" in args
    assert f"--kubeconfig={layout.config / 'kube-router.kubeconfig'}" in args


def test_kube_router_may_only_read(layout: Layout) -> None:
    role = next(yaml.safe_load_all(netpol.rbac_manifest()))
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert any("networkpolicies" in rule["resources"] for rule in role["rules"])


def test_state_lives_under_the_clusters_own_directories(layout: Layout) -> None:
    text = everything_rendered(layout)
    for system_path in (
        "/var/lib/kubelet",
        "/var/lib/etcd",
        "/var/lib/containerd",
        "/run/containerd/containerd.sock",
        "/etc/kubernetes",
        "/etc/cni",
        "/var/lib/docker-registry",
        "/var/lib/cni/networks",
    ):
        assert system_path not in text, system_path
    assert str(layout.containerd_socket) in text
    assert str(layout.etcd_data) in text


def test_listeners_do_not_share_a_port() -> None:
    ports = [(addr, port) for _, addr, port in Network().listeners()]
    assert len(ports) == len(set(ports))


def test_apiserver_certificate_covers_every_address_clients_use() -> None:
    net = Network()
    by_name = {ident.name: ident for ident in pki.identities(net)}
    apiserver = by_name["apiserver"]
    assert {net.node_ip, net.kubernetes_service_ip} <= set(apiserver.ips)
    assert f"kubernetes.default.svc.{net.cluster_domain}" in apiserver.dns
    assert "serverAuth" in apiserver.extensions()
    kubelet = by_name["kubelet"]
    assert kubelet.subject() == f"/O=system:nodes/CN=system:node:{net.node_name}"
    assert by_name["admin"].organization == "system:masters"


def test_version_is_read_from_go_mod(tmp_path: Path) -> None:
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module x\n\nrequire (\n\tk8s.io/kubernetes v1.99.7\n\tfoo v0.1.0\n)\n")
    assert module_version(go_mod, "k8s.io/kubernetes") == "v1.99.7"
    go_mod.write_text("module x\n\nrequire k8s.io/kubernetes v1.98.0\n")
    assert module_version(go_mod, "k8s.io/kubernetes") == "v1.98.0"
    with pytest.raises(ClusterError, match=re.escape("does not require k8s.io/kubernetes")):
        module_version(tmp_path / "go.mod", "k8s.io/kubernetes-not")


def test_version_ldflags_stamp_both_version_packages() -> None:
    flags = gobuild.kube_ldflags("v1.34.4")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.34.4" in flags
        assert f"-X {pkg}.gitMajor=1" in flags
        assert f"-X {pkg}.gitMinor=34" in flags


def test_image_tarballs_are_reproducible_and_keep_modes() -> None:
    files: dict[str, images.FileSource] = {"bin/tool": (b"#!/bin/sh\n", 0o755), "etc/x": b"x"}
    first = images.make_tar(files, dirs={"tmp": 0o1777}, symlinks={"bin/sh": "/bin/tool"})
    second = images.make_tar(
        dict(reversed(list(files.items()))), dirs={"tmp": 0o1777}, symlinks={"bin/sh": "/bin/tool"}
    )
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/tool"].mode == 0o755
    assert members["etc/x"].mode == 0o644
    assert members["tmp"].mode == 0o1777 and members["tmp"].isdir()
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/tool"


def test_exit_message_is_one_line_with_the_log_path(tmp_path: Path) -> None:
    log = tmp_path / "etcd.log"
    log.write_text("==== start\nsome line\nerror: listen tcp 127.0.0.1:2379: bind: in use\n\n")
    message = procs.exited_message("etcd", log, 1)
    assert "\n" not in message
    assert "bind: in use" in message and str(log) in message and "code 1" in message


def test_tracked_process_identity_includes_its_start_time() -> None:
    me = procs.start_time(os.getpid())
    assert me is not None
    assert procs.Tracked("me", os.getpid(), me).alive()
    assert not procs.Tracked("recycled", os.getpid(), me + 1).alive()


def test_a_new_identity_is_issued_without_replacing_the_ca_or_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A running cluster made before kube-router existed gains its certificate; the
    # CA and the certificates in every kubeconfig in use must stay as they were.
    net = Network()
    everyone = pki.identities(net)
    monkeypatch.setattr(
        pki, "identities", lambda _net: [i for i in everyone if i.name != "kube-router"]
    )
    folder = tmp_path / "pki"
    pki.ensure(folder, net)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert "kube-router.crt" not in before
    monkeypatch.setattr(pki, "identities", lambda _net: everyone)
    pki.ensure(folder, net)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert {"kube-router.crt", "kube-router.key"} <= set(after)
    kept = set(before) - {"identities.txt", "ca.srl"}  # the marker and the serial counter
    assert {n for n in kept if after.get(n) == before[n]} == kept
    subject = subprocess.run(
        ["openssl", "x509", "-in", str(folder / "kube-router.crt"), "-noout", "-subject"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "system:kube-router" in subject
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "ca.crt"), str(folder / "kube-router.crt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
