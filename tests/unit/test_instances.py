"""Controller instance ids: which operator handles which object, and its own Lease."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kopf
import pytest

from shakedown.api import instances
from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.cli import run, selftest
from shakedown.handlers import FINALIZER

LABEL = instances.LABEL
SHAKEDOWN = Path(sys.executable).with_name("shakedown")


@pytest.mark.parametrize(
    ("labels", "instance", "handled"),
    [
        (None, None, True),
        ({}, None, True),
        ({"app": "x"}, None, True),
        ({LABEL: "blue"}, None, False),  # the main operator leaves a shard's objects alone
        ({LABEL: "blue"}, "blue", True),
        ({LABEL: "blue"}, "green", False),
        ({}, "blue", False),  # an instance handles only its own
        ({LABEL: ""}, None, True),  # an empty label is no label
    ],
)
def test_an_object_is_handled_by_the_operator_of_its_instance_only(
    labels: dict[str, str] | None, instance: str | None, handled: bool
) -> None:
    assert instances.handles(labels, instance) is handled


def test_the_kopf_filter_reads_the_instance_from_the_memo() -> None:
    memo = run.operator_memo("blue")
    assert instances.mine(labels={LABEL: "blue"}, memo=memo)
    assert not instances.mine(labels={}, memo=memo)
    assert instances.mine(labels={}, memo=run.operator_memo(None))
    assert not instances.mine(labels={LABEL: "blue"}, memo=kopf.Memo())


def test_an_instance_takes_a_lease_and_a_finalizer_of_its_own() -> None:
    assert instances.lease_name("shakedown-leader", None) == "shakedown-leader"
    assert instances.lease_name("shakedown-leader", "blue") == "shakedown-leader-blue"
    assert instances.finalizer(FINALIZER, None) == "shakedown.dev/finalizer"
    assert instances.finalizer(FINALIZER, "blue") == "shakedown.dev/finalizer-blue"


@pytest.mark.parametrize("bad", ["Blue", "-blue", "blue-", "a_b", "x" * 41, "a.b"])
def test_a_bad_instance_id_is_refused_naming_it(bad: str) -> None:
    problem = instances.problem(bad)
    assert problem is not None and repr(bad) in problem
    assert instances.problem("blue-2") is None


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(instances.ENV, "from-env")
    assert run.instance_id(None) == "from-env"
    assert run.instance_id("from-flag") == "from-flag"
    monkeypatch.setenv(instances.ENV, "")
    assert run.instance_id(None) is None


def test_a_bad_instance_id_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    result = subprocess.run(
        [str(SHAKEDOWN), "run", "--metrics-port", "0", "--instance-id", "Not_An_Id"],
        env={"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("shakedown: --instance-id 'Not_An_Id'")
    assert result.stderr.count("\n") == 1


def test_the_selftest_probe_is_a_valid_refresh_that_only_its_instance_handles() -> None:
    probe = selftest.probe_manifest("shakedown-selftest-1a2b", "selftest-1a2b")
    spec = ContainerImageRefreshSpec.model_validate(probe["spec"])
    assert spec.suspend  # no build, no pod, no registry call
    labels = probe["metadata"]["labels"]
    assert instances.handles(labels, "selftest-1a2b")
    assert not instances.handles(labels, None)


@pytest.mark.parametrize(
    ("obj", "done"),
    [
        (None, False),
        ({"metadata": {"generation": 1}}, False),
        ({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}, False),
        ({"metadata": {"generation": 2}, "status": {"observedGeneration": 2}}, True),
    ],
)
def test_the_probe_is_reconciled_once_its_generation_is_observed(
    obj: dict[str, object] | None, done: bool
) -> None:
    assert selftest.reconciled(obj) is done


def test_another_instances_watch_events_start_no_runner() -> None:
    """The wiring drops them before anything is made (making a runner would connect)."""
    import asyncio

    from shakedown.adapters.runnerset import Runners
    from shakedown.handlers import infrarollout, runners

    def no_cluster() -> Any:
        raise AssertionError("a runner was made for another instance's object")

    memo = run.operator_memo(None)
    memo[runners.MEMO_KEY] = Runners(no_cluster)
    event = {
        "type": "ADDED",
        "object": {"metadata": {"name": "x", "namespace": "ns", "labels": {LABEL: "blue"}}},
    }

    async def deliver() -> None:
        await infrarollout.drive(name="x", namespace="ns", event=event, memo=memo)

    asyncio.run(deliver())
    assert not runners.registry(memo).running(("InfraRollout", "ns", "x"))
    assert runners.registry(memo).bodies.get(("InfraRollout", "ns", "x")) is None
