"""The pods' isolation table of the local cluster, as nft reads it (no cluster needed)."""

from __future__ import annotations

from shakedown.localcluster import isolation


def test_the_table_hooks_forward_before_iptables_filter_table() -> None:
    script = isolation.ruleset("cni0")
    # iptables' (nft backend) filter FORWARD chain has priority 0; ours must run first.
    assert "type filter hook forward priority filter - 10; policy accept;" in script
    rules = [line.strip() for line in script.splitlines() if "iifname" in line or "oifname" in line]
    assert rules == [
        'iifname "cni0" oifname "cni0" accept',
        'iifname "cni0" counter reject',
        'oifname "cni0" counter reject',
    ]


def test_the_script_replaces_an_existing_table_in_one_transaction() -> None:
    lines = isolation.ruleset("cni0").splitlines()
    # Declaring an empty table first makes the delete succeed when it is missing.
    assert lines[:3] == [
        "table inet shakedown {}",
        "delete table inet shakedown",
        "table inet shakedown {",
    ]


def test_rejected_sums_the_reject_counters_of_a_listing() -> None:
    listing = """\
table inet shakedown {
	chain isolate {
		type filter hook forward priority filter - 10; policy accept;
		iifname "cni0" oifname "cni0" accept
		iifname "cni0" counter packets 3 bytes 180 reject
		oifname "cni0" counter packets 2 bytes 120 reject
	}
}
"""
    assert isolation.rejected(listing) == 5
    assert isolation.rejected("") == 0
