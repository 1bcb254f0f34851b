"""Certificates and keys of the local cluster, made with the openssl CLI.

One CA signs everything: the API server's serving certificate (valid for the
node address, the ``kubernetes`` Service address and names), client
certificates for the admin (``system:masters``), the kubelet, the
controller-manager, the scheduler and kube-proxy, the kubelet's serving
certificate, and the API server's client certificate towards kubelets. The
service-account key pair signs tokens. Files are made once and reused while
they still match the cluster's addresses, so kubeconfigs stay valid across
restarts.
"""

from __future__ import annotations

import ast
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shakedown.localcluster.errors import ClusterError
from shakedown.localcluster.layout import Network

DAYS = 3650


@dataclass(frozen=True)
class Identity:
    """One certificate to issue: file stem, subject, usages and addresses."""

    name: str
    common_name: str
    organization: str | None = None
    client: bool = True
    server: bool = False
    ips: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()

    def extensions(self) -> str:
        usages = (["serverAuth"] if self.server else []) + (["clientAuth"] if self.client else [])
        lines = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={','.join(usages)}",
        ]
        alt = [f"IP:{ip}" for ip in self.ips] + [f"DNS:{name}" for name in self.dns]
        if alt:
            lines.append(f"subjectAltName={','.join(alt)}")
        return "\n".join(lines) + "\n"

    def subject(self) -> str:
        org = f"/O={self.organization}" if self.organization else ""
        return f"{org}/CN={self.common_name}"


def identities(net: Network) -> list[Identity]:
    """Every certificate the cluster needs, derived from its addresses."""
    domain = net.cluster_domain
    return [
        Identity(
            "apiserver",
            "kube-apiserver",
            client=False,
            server=True,
            ips=(net.node_ip, net.kubernetes_service_ip, "127.0.0.1"),
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{domain}",
            ),
        ),
        Identity("admin", "shakedown-admin", "system:masters"),
        Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        Identity("kubelet", f"system:node:{net.node_name}", "system:nodes"),
        Identity(
            "kubelet-serving",
            net.node_name,
            client=False,
            server=True,
            ips=(net.node_ip,),
            dns=(net.node_name,),
        ),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("kube-proxy", "system:kube-proxy"),
        Identity("kube-router", "system:kube-router"),
    ]


def _openssl(args: Sequence[str], *, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise ClusterError(f"openssl {args[0]} failed in {cwd}: {last}; delete {cwd} and retry")


def _fingerprint(net: Network) -> str:
    return repr(sorted((i.name, i.subject(), i.extensions()) for i in identities(net)))


def ensure(pki: Path, net: Network) -> None:
    """Create the CA, certificates and keys under ``pki`` unless they already match."""
    marker = pki / "identities.txt"
    want = _fingerprint(net)
    if marker.exists() and marker.read_text() == want:
        return
    if _add_missing(pki, net, marker):
        marker.write_text(want)
        return
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    for old in pki.iterdir():
        old.unlink()
    _openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], cwd=pki)
    _openssl(
        [
            "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", str(DAYS),
            "-subj", "/CN=shakedown-local-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out", "ca.crt",
        ],
        cwd=pki,
    )  # fmt: skip
    for ident in identities(net):
        _issue(pki, ident)
    _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
              "-out", "sa.key"], cwd=pki)  # fmt: skip
    _openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], cwd=pki)
    marker.write_text(want)


def _add_missing(pki: Path, net: Network, marker: Path) -> bool:
    """Issue only the identities added since the marker was written, keeping the CA.

    A running cluster gains a component (kube-router) without new certificates
    for the others, so its kubeconfigs stay valid. False when anything else
    changed (then everything is made again).
    """
    if not marker.exists() or not (pki / "ca.key").exists():
        return False
    try:
        had = {tuple(entry) for entry in ast.literal_eval(marker.read_text())}
    except (ValueError, SyntaxError, TypeError):
        return False
    wanted = {(i.name, i.subject(), i.extensions()): i for i in identities(net)}
    if not had <= set(wanted):
        return False
    for key, ident in wanted.items():
        if key not in had:
            _issue(pki, ident)
    return True


def _issue(pki: Path, ident: Identity) -> None:
    key, csr, crt = f"{ident.name}.key", f"{ident.name}.csr", f"{ident.name}.crt"
    _openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], cwd=pki)
    _openssl(["req", "-new", "-key", key, "-subj", ident.subject(), "-out", csr], cwd=pki)
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=pki, delete=False) as ext:
        ext.write(ident.extensions())
    try:
        _openssl(
            [
                "x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-sha256", "-days", str(DAYS),
                "-extfile", Path(ext.name).name, "-out", crt,
            ],
            cwd=pki,
        )  # fmt: skip
    finally:
        Path(ext.name).unlink(missing_ok=True)
        (pki / csr).unlink(missing_ok=True)
