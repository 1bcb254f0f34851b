"""High availability: two operators with ``--leader-election``, exactly one acts.

Both run out of cluster like the other InfraRollout tests' operator, watch these
tests' namespaces and agree through one Lease. The standby must not reconcile
at all while the leader lives; when the leader is SIGKILLed during a bake whose
production pods then fail, the standby takes over and rolls back, once. The
takeover time (SIGKILL to the standby holding the Lease, and to the standby
handling the rollout) is printed, not asserted; bench/failover.py measures it
over several kills.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.infrarollout import (
    PREFIX,
    Operator,
    config_data,
    deployment_ready,
    events,
    rollout,
    status,
    template_of,
    wait_for,
    wait_phase,
    workload,
)

pytestmark = pytest.mark.cluster

LEASE_NAMESPACE = "default"


def metric(op: Operator, name: str) -> float | None:
    """A sample of the operator's metrics (None: not exported, or not reachable)."""
    try:
        with urllib.request.urlopen(op.metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def samples(op: Operator, prefix: str) -> list[str]:
    with urllib.request.urlopen(op.metrics_url, timeout=2) as response:
        text = response.read().decode()
    return [line for line in text.splitlines() if line.startswith(prefix)]


@dataclass
class Pair:
    operators: list[Operator]
    lease: str

    def leader(self, timeout: float = 60) -> tuple[Operator, Operator]:
        """(leader, standby), once exactly one says it leads."""

        def check() -> tuple[Operator, Operator] | None:
            leading = [op for op in self.operators if metric(op, "shakedown_leader") == 1]
            if len(leading) != 1:
                return None
            (leader,) = leading
            (standby,) = [op for op in self.operators if op is not leader]
            return (leader, standby) if metric(standby, "shakedown_leader") == 0 else None

        found: tuple[Operator, Operator] = wait_for(check, timeout, "exactly one leader")
        return found


def holder(kube: Kube, lease: str) -> str:
    obj = kube.get("Lease", LEASE_NAMESPACE, lease) or {}
    return str((obj.get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
def pair(
    kubeconfig: Path,
    crds: list[str],
    busybox_image: str,
    kube: Kube,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pair]:
    """Two operators electing a leader through a Lease of their own."""
    lease = f"{PREFIX}-leader-{secrets.token_hex(2)}"
    args = [
        "--leader-election",
        f"--leader-election-namespace={LEASE_NAMESPACE}",
        f"--leader-election-name={lease}",
    ]
    operators = [
        Operator(
            kubeconfig, tmp_path_factory.mktemp(f"replica-{i}"), busybox_image, extra_args=args
        )
        for i in range(2)
    ]
    try:
        for op in operators:
            op.start()
        yield Pair(operators, lease)
    finally:
        for op in operators:
            op.stop()
            print(f"[replica] logs: {[str(p) for p in op.logs]}", file=sys.stderr)
        kube.delete("Lease", LEASE_NAMESPACE, lease)


def test_only_the_leader_acts(pair: Pair, kube: Kube, ns: str, busybox_image: str) -> None:
    leader, standby = pair.leader()
    workload(kube, ns, busybox_image)
    # Forgiving readiness: a busy machine's slow probe is not what this test is about.
    lenient = {"rollback": {"automatic": True, "notReadyFor": "30s", "maxRestarts": 2}}
    rollout(kube, ns, message="v2", bake="3s", http=False, extra=lenient)
    final = wait_phase(kube, ns, {"Succeeded", "RolledBack", "Failed"}, timeout=180)
    assert final["phase"] == "Succeeded", final
    # The leader did the work; the standby never started kopf, never saw the namespace.
    assert ns in leader.log()
    assert samples(leader, "shakedown_infrarollout_revisions_total{")
    assert ns not in standby.log()
    assert "Starting Kopf" not in standby.log()
    assert not samples(standby, "shakedown_infrarollout_revisions_total{")
    assert not samples(standby, "shakedown_reconciliations_total{")
    assert metric(standby, "shakedown_leader") == 0
    assert metric(standby, "shakedown_leader_acquisitions_total") == 0


def acting_since(op: Operator, ns: str) -> bool:
    """Whether ``op`` leads and a handler of its kopf has run for the rollout since."""
    log = op.log()
    start = log.find("leading: holding Lease")
    return start >= 0 and any(
        f"{ns}/change" in line or ("kopf.objects" in line and f"'{ns}'" in line)
        for line in log[start:].splitlines()
    )


def test_the_standby_takes_over_a_failing_bake_and_rolls_back_once(
    pair: Pair, kube: Kube, ns: str, busybox_image: str
) -> None:
    leader, standby = pair.leader()
    workload(kube, ns, busybox_image)
    template_before = template_of(kube, ns)
    generation_before = (kube.get("Deployment", ns, "web") or {})["metadata"]["generation"]
    # Production pods turn NotReady 25 s after they start: after the kill, before the bake ends.
    rollout(kube, ns, message="v2", fail_after=25, bake="90s", http=False)
    wait_phase(kube, ns, {"Baking"}, timeout=180)
    assert status(kube, ns).get("phase") == "Baking", "the failure came before the kill"
    old_holder = holder(kube, pair.lease)
    killed = time.monotonic()
    leader.kill()

    new_holder = wait_for(
        lambda: (h := holder(kube, pair.lease)) not in ("", old_holder) and h, 60, "a new holder"
    )
    leading = time.monotonic() - killed
    wait_for(lambda: acting_since(standby, ns), 60, "the standby handling the rollout")
    acting = time.monotonic() - killed
    print(
        f"\n[failover] SIGKILL to standby holding the Lease: {leading:.1f}s;"
        f" to the standby handling the rollout: {acting:.1f}s",
        file=sys.stderr,
    )
    assert metric(standby, "shakedown_leader") == 1
    assert str(standby.proc.pid if standby.proc else "") in new_holder

    final = wait_phase(kube, ns, {"RolledBack", "Succeeded", "Failed"}, timeout=180)
    assert final["phase"] == "RolledBack", final
    assert final["rollbackReason"].startswith("NotReady"), final["rollbackReason"]
    assert config_data(kube, ns) == {"MESSAGE": "v1"}
    assert template_of(kube, ns) == template_before
    wait_for(lambda: deployment_ready(kube, ns, "web"), 120, "production Ready again")
    # Once: one shift and one restore are the only two new Deployment generations,
    # one revision in the history, and the new leader counted one rollback.
    deployment = kube.get("Deployment", ns, "web") or {}
    assert deployment["metadata"]["generation"] == generation_before + 2
    assert len(kube.list("ReplicaSet", ns, labels="app=web")) == 2
    assert [h["result"] for h in final["history"]] == ["RolledBack"]
    rolled_back = samples(standby, "shakedown_infrarollout_revisions_total{")
    assert [s for s in rolled_back if 'result="RolledBack"' in s and s.endswith(" 1.0")], (
        rolled_back
    )
    # Events are posted just after the status is stored.
    posted = wait_for(
        lambda: (e := events(kube, ns)) and any(x.startswith("RolledBack:") for x in e) and e,
        30,
        "the RolledBack event",
    )
    assert len([e for e in posted if e.startswith("RollingBack:")]) == 1, posted
    assert len([e for e in posted if e.startswith("RolledBack:")]) == 1, posted
