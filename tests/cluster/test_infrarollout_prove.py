"""Prove-only InfraRollouts (promote: false) and ``shakedown wait`` on the real cluster.

Given the busybox httpd workload of the e2e module in production, when a
prove-only rollout runs, then it ends Validated (or Failed) with every
production object at the resourceVersion it had before, no lock taken, the
shadow namespace gone, and ``shakedown wait`` exiting 0 (or 1) as CI expects.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shakedown.adapters.workloads import Kube
from tests.fixtures.infrarollout import (
    FINAL,
    Operator,
    create_rollout,
    rollout,
    status,
    wait_for,
    wait_phase,
    workload,
)
from tests.fixtures.operator import SHAKEDOWN

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("own_crds")]


PRODUCTION = (("Deployment", "web"), ("ConfigMap", "web-config"), ("Service", "web"))


def versions(client: Kube, namespace: str) -> dict[str, str]:
    """resourceVersion of each production object (what changes on any write)."""
    out = {}
    for kind, name in PRODUCTION:
        obj = client.get(kind, namespace, name)
        assert obj is not None, f"{kind}/{name}"
        out[f"{kind}/{name}"] = obj["metadata"]["resourceVersion"]
    return out


def start_wait(kubeconfig: Path, namespace: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SHAKEDOWN), "wait", "iro", "change", "-n", namespace, *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"shakedown wait still running after {timeout}s: {out} {err}") from exc
    return proc.returncode, out, err


def assert_shadow_gone(client: Kube, final: dict[str, Any]) -> None:
    shadow = final["shadowNamespace"]
    wait_for(lambda: client.get("Namespace", None, shadow) is None, 90, f"{shadow} gone")


def condition(final: dict[str, Any], type_: str) -> tuple[str, str]:
    found = next(c for c in final["conditions"] if c["type"] == type_)
    return found["status"], found["reason"]


def test_prove_only_success_is_validated_and_production_untouched(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    kubeconfig: Path,
) -> None:
    workload(kube, ns, busybox_image)
    before = versions(kube, ns)
    rollout(kube, ns, message="v2", extra={"promote": False})
    waiting = start_wait(kubeconfig, ns, "--for", "condition=Ready", "--timeout", "4m")
    code, out, err = finish(waiting)
    final = wait_phase(kube, ns, FINAL)
    assert final["phase"] == "Validated", final
    assert code == 0, (out, err)
    assert "SmokeTesting" in out and "Validated" in out.splitlines()[-1], out
    # The shadow proved the change: readiness and the HTTP check saw "v2" there.
    assert {c["name"]: c["phase"] for c in final["checks"]} == {
        "ready": "Passed",
        "index": "Passed",
    }
    assert final["history"][0]["result"] == "Validated"
    assert condition(final, "Ready") == ("True", "Validated")
    assert condition(final, "Stalled")[0] == "False"
    assert versions(kube, ns) == before, "production written"
    assert not kube.list("Lease", ns), "a prove-only rollout takes no lock"
    assert_shadow_gone(kube, final)


def test_prove_only_failure_fails_fast_and_production_untouched(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    busybox_image: str,
    registry: str,
    kubeconfig: Path,
) -> None:
    workload(kube, ns, busybox_image)
    before = versions(kube, ns)
    missing = f"{registry}/shakedown/missing-{secrets.token_hex(3)}:1"
    create_rollout(
        kube,
        ns,
        {
            "targets": [
                {"kind": "Deployment", "name": "web"},
                {"kind": "ConfigMap", "name": "web-config"},
            ],
            "change": {"images": [{"container": "web", "image": missing}]},
            "shadow": {"ttl": "10m", "replicas": 1},
            "smokeTests": {"readyFor": "3s"},
            "timeout": "10m",
            "promote": False,
        },
    )
    waiting = start_wait(kubeconfig, ns, "--timeout", "4m")
    code, out, err = finish(waiting)
    final = wait_phase(kube, ns, FINAL)
    assert final["phase"] == "Failed", final
    assert code == 1, (out, err)
    assert "ended Failed" in out.splitlines()[-1], out
    assert missing in final["message"] and "web-" in final["message"], final["message"]
    assert condition(final, "Ready") == ("False", "ImagePull")
    assert condition(final, "Stalled") == ("True", "ImagePull")
    assert final["history"][0]["result"] == "Failed"
    assert versions(kube, ns) == before, "production written"
    assert_shadow_gone(kube, final)


def test_wait_exit_codes_for_missing_objects_bad_input_and_timeouts(
    iro_operator: Operator,
    kube: Kube,
    ns: str,
    kubeconfig: Path,
) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    def wait(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SHAKEDOWN), "wait", *args, "-n", ns],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = wait("iro", "nothing-here", "--timeout", "10s")
    assert missing.returncode == 2 and "not found" in missing.stderr, missing
    missing_cir = wait("cir", "nothing-here")
    assert missing_cir.returncode == 2 and "not found" in missing_cir.stderr, missing_cir
    bad = wait("iro", "x", "--for", "phase=Done")
    assert bad.returncode == 2 and "--for phase=Done" in bad.stderr, bad
    # A rollout that waits for a ContainerImageRefresh that does not exist never settles.
    create_rollout(
        kube,
        ns,
        {
            "targets": [{"kind": "Deployment", "name": "web"}],
            "imageFrom": {"containerImageRefresh": "absent", "container": "web"},
        },
    )
    wait_for(lambda: status(kube, ns).get("observedGeneration"), 60, "status written")
    slow = wait("iro", "change", "--timeout", "2s")
    assert slow.returncode == 2 and "timed out after 2s" in slow.stderr, slow
    assert "Pending (revision 0)" in slow.stdout, slow
