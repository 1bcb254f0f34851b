"""``shakedown wait``: the pure decision (object in, done / failed / pending out) and bad input."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from shakedown.cli.main import UserError, main
from shakedown.cli.wait import State, Target, decide, parse_for
from tests.fixtures.operator import SHAKEDOWN

IRO = "InfraRollout"
CIR = "ContainerImageRefresh"
READY = Target(condition="Ready")


def iro(
    phase: str,
    *,
    revision: int = 1,
    ready: str = "False",
    stalled: str = "False",
    generation: int = 1,
    observed: int | None = 1,
    reason: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "revision": revision,
        "message": f"{phase} message",
        "conditions": [
            {"type": "Ready", "status": ready, "reason": reason or phase},
            {"type": "Stalled", "status": stalled, "reason": reason or phase, "message": "m"},
        ],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "x", "generation": generation}, "status": status}


def cir(
    last: str | None,
    *,
    current: str | None = None,
    ready: str = "Unknown",
    requested: str | None = None,
    handled: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": ready, "reason": "r"}],
    }
    if last:
        status["lastRun"] = {"id": "7", "phase": last, "message": f"run {last}"}
    if current:
        status["currentRun"] = {"id": "8", "phase": current}
    if handled:
        status["handledRunRequest"] = handled
    meta: dict[str, Any] = {"name": "x", "generation": 1}
    if requested:
        meta["annotations"] = {"shakedown.dev/run-requested": requested}
    return {"metadata": meta, "status": status}


CASES = [
    # id, kind, object, target, state
    ("iro succeeded is Ready", IRO, iro("Succeeded", ready="True"), READY, State.DONE),
    ("iro validated is Ready", IRO, iro("Validated", ready="True"), READY, State.DONE),
    ("iro in smoke tests", IRO, iro("SmokeTesting"), READY, State.PENDING),
    (
        "iro failed",
        IRO,
        iro("Failed", stalled="True", reason="CrashLoop"),
        READY,
        State.FAILED,
    ),
    ("iro rolled back", IRO, iro("RolledBack", stalled="True"), READY, State.FAILED),
    ("iro aborted", IRO, iro("Aborted", stalled="True"), READY, State.FAILED),
    (
        "stale status is not trusted",
        IRO,
        iro("Succeeded", ready="True", generation=2, observed=1),
        READY,
        State.PENDING,
    ),
    ("no status yet", IRO, iro("Pending", revision=0, observed=None), READY, State.PENDING),
    (
        "invalid spec is Stalled",
        IRO,
        iro("Pending", revision=0, stalled="True", reason="InvalidSpec"),
        READY,
        State.FAILED,
    ),
    ("waiting for a first change", IRO, iro("Pending", revision=0), READY, State.PENDING),
    ("iro phase reached", IRO, iro("Baking"), Target(phase="Baking"), State.DONE),
    ("iro waiting for Failed sees Failed", IRO, iro("Failed"), Target(phase="Failed"), State.DONE),
    (
        "iro ended in another final state",
        IRO,
        iro("Succeeded", ready="True"),
        Target(phase="Validated"),
        State.FAILED,
    ),
    (
        "Ready=False awaited",
        IRO,
        iro("Failed", stalled="True"),
        Target(condition="Ready", status="False"),
        State.DONE,
    ),
    ("cir promoted", CIR, cir("Succeeded", ready="True"), READY, State.DONE),
    ("cir validated", CIR, cir("Validated", ready="True"), READY, State.DONE),
    ("cir last run failed", CIR, cir("Failed", ready="False"), READY, State.FAILED),
    ("cir run cancelled", CIR, cir("Cancelled", ready="False"), READY, State.FAILED),
    (
        "cir Ready from the last run does not count during a new one",
        CIR,
        cir("Succeeded", current="Testing", ready="True"),
        READY,
        State.PENDING,
    ),
    (
        "cir requested run not started yet",
        CIR,
        cir("Succeeded", ready="True", requested="t2", handled="t1"),
        READY,
        State.PENDING,
    ),
    (
        "cir requested run handled",
        CIR,
        cir("Succeeded", ready="True", requested="t2", handled="t2"),
        READY,
        State.DONE,
    ),
    ("cir no run yet", CIR, cir(None), READY, State.PENDING),
    (
        "cir phase of the run in flight",
        CIR,
        cir(None, current="Testing"),
        Target(phase="Testing"),
        State.DONE,
    ),
]


@pytest.mark.parametrize(
    ("kind", "obj", "target", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(kind: str, obj: dict[str, Any], target: Target, state: State) -> None:
    assert decide(kind, obj, target).state is state


def test_a_failure_says_how_it_ended() -> None:
    decision = decide(IRO, iro("RolledBack"), READY)
    assert decision.message.startswith("ended RolledBack")


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("condition=Ready", Target(condition="Ready")),
        ("condition=Ready=false", Target(condition="Ready", status="False")),
        ("condition=Stalled=True", Target(condition="Stalled")),
        ("phase=succeeded", Target(phase="Succeeded")),
    ],
)
def test_parse_for(text: str, target: Target) -> None:
    assert parse_for(text, IRO) == target


@pytest.mark.parametrize(
    "text", ["Ready", "condition=", "condition=Ready=maybe", "phase=Shipping", "status=Ready"]
)
def test_bad_for_names_the_option(text: str) -> None:
    with pytest.raises(UserError, match="--for"):
        parse_for(text, IRO)


def test_cir_phases_are_run_phases() -> None:
    assert parse_for("phase=Testing", CIR) == Target(phase="Testing")
    with pytest.raises(UserError, match="Testing"):
        parse_for("phase=SmokeTesting", CIR)


def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait", "iro", "x", "--timeout", "soon"]) == 2
    assert main(["wait", "deployment", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--timeout soon" in err[0] and "cir or iro" in err[1]


def test_an_unusable_kubeconfig_exits_2_without_a_traceback(tmp_path: Any) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(SHAKEDOWN), "wait", "iro", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert "missing" in done.stderr


def test_an_unreachable_cluster_exits_2_with_one_line(tmp_path: Any) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: ns1}}]\n"
        "current-context: c\n"
    )
    done = subprocess.run(
        [str(SHAKEDOWN), "wait", "iro", "x", "--timeout", "30s"],
        env={"KUBECONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the cluster" in lines[0], done.stderr
