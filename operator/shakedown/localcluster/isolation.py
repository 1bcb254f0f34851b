"""Pods may talk to each other and to the node, and are never forwarded off the machine.

The rule lives in an nftables table of its own (``inet shakedown``), in a
forward base chain at priority ``filter - 10``: the kernel runs it before the
``filter`` table that iptables (nft backend, as on Debian 12) and everything
driving iptables use. Rules there cannot pre-empt it: an ``ACCEPT`` ends only
its own base chain, while a ``reject`` here ends the packet (so being a base
chain of its own is what counts; running first only spares kube-router's
chains the packets). That matters since
kube-router keeps its jump at position 1 of iptables' FORWARD and ACCEPTs the
pod traffic its policies allow, so an iptables chain of ours would only be
consulted for what kube-router did not accept (pods' off-node traffic would be
routed). Re-inserting a rule above kube-router's would not hold either: each of
its syncs moves its own jump back to position 1.

Packets from the pod bridge to the pod bridge pass (and go on to kube-router's
policies); any other forwarded packet from or to it is rejected, counted, so
tests can see that the reject, not a missing route, stopped them.
"""

from __future__ import annotations

import shutil
import subprocess

from shakedown.localcluster.errors import ClusterError

FAMILY = "inet"
TABLE = "shakedown"
CHAIN = "isolate"
#: Before iptables' filter table (priority 0) at the forward hook.
PRIORITY = "filter - 10"
#: The iptables chain earlier versions used instead; removed when found.
OLD_CHAIN = "SHAKEDOWN-ISOLATE"


def ruleset(bridge: str) -> str:
    """The nft script that (re)creates the table atomically (one transaction)."""
    return (
        f"table {FAMILY} {TABLE} {{}}\n"
        f"delete table {FAMILY} {TABLE}\n"
        f"table {FAMILY} {TABLE} {{\n"
        f"  chain {CHAIN} {{\n"
        f"    type filter hook forward priority {PRIORITY}; policy accept;\n"
        f'    iifname "{bridge}" oifname "{bridge}" accept\n'
        f'    iifname "{bridge}" counter reject\n'
        f'    oifname "{bridge}" counter reject\n'
        "  }\n"
        "}\n"
    )


def _nft() -> str:
    nft = shutil.which("nft")
    if nft is None:
        raise ClusterError("nft is missing: install Debian's nftables package (up does)")
    return nft


def ensure(bridge: str) -> None:
    """Install the table for ``bridge`` (idempotent); drop the old iptables chain."""
    proc = subprocess.run(
        [_nft(), "-f", "-"], input=ruleset(bridge), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ClusterError(f"nft could not install the pods' isolation: {proc.stderr.strip()}")
    _remove_old_chain()


def exists() -> bool:
    """Whether the table is in this network namespace."""
    nft = shutil.which("nft")
    if nft is None:
        return False
    proc = subprocess.run(
        [nft, "list", "table", FAMILY, TABLE], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def remove() -> None:
    nft = shutil.which("nft")
    if nft is not None and exists():
        subprocess.run([nft, "delete", "table", FAMILY, TABLE], capture_output=True, check=False)


def rejected(listing: str) -> int:
    """Packets the reject rules counted, from ``nft list table inet shakedown``."""
    total = 0
    for line in listing.splitlines():
        words = line.split()
        if "reject" in words and "packets" in words:
            total += int(words[words.index("packets") + 1])
    return total


def _iptables(*args: str) -> int:
    return subprocess.run(["iptables", "-t", "filter", *args], capture_output=True).returncode


def _remove_old_chain() -> None:
    """A cluster started by an earlier version has the iptables chain; the table replaces it."""
    if _iptables("-n", "-L", OLD_CHAIN) != 0:
        return
    while _iptables("-D", "FORWARD", "-j", OLD_CHAIN) == 0:
        pass
    _iptables("-F", OLD_CHAIN)
    _iptables("-X", OLD_CHAIN)
