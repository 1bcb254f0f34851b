"""The ``shakedown`` command: crds, get tables, steering annotations, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shakedown.api.crdgen import render_all
from shakedown.cli import get
from shakedown.cli.main import UserError, build_parser, main
from shakedown.presentation import reading, steering

SHAKEDOWN = Path(sys.executable).with_name("shakedown")
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- crds
def test_crds_print_writes_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    out = capsys.readouterr().out
    assert out == "".join(render_all().values())
    assert "name: containerimagerefreshes.shakedown.dev" in out
    assert "name: infrarollouts.shakedown.dev" in out


def test_crds_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--check", str(tmp_path)]) == 1
    assert "run `make crds`" in capsys.readouterr().err
    assert main(["crds", "--write", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(render_all())
    assert main(["crds", "--check", str(tmp_path)]) == 0
    victim = next(tmp_path.iterdir())
    victim.write_text(victim.read_text() + "# edited by hand\n")
    assert main(["crds", "--check", str(tmp_path)]) == 1
    assert victim.name in capsys.readouterr().err


def test_crds_check_of_a_missing_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crds", "--check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shakedown: --check") and err.count("\n") == 1


# --------------------------------------------------------------------------- errors
def test_run_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(SHAKEDOWN), "run", "--metrics-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "KUBECONFIG" in result.stderr and "Traceback" not in result.stderr


def test_get_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    env = {"KUBECONFIG": "", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(SHAKEDOWN), "get", "cir"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("shakedown: no cluster"), result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "deployment"]) == 2
    assert "use cir or iro" in capsys.readouterr().err


def test_get_points_to_kubectl_for_metric_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "mtpl"]) == 2
    assert "use kubectl get metrictemplates" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--help"],
        ["get", "--help"],
        ["trigger", "--help"],
        ["rollback", "--help"],
        ["promote", "--help"],
        ["abort", "--help"],
        ["retry", "--help"],
        ["undo", "--help"],
        ["pause", "--help"],
        ["resume", "--help"],
        ["suspend", "--help"],
        ["logs", "--help"],
        ["version", "--help"],
        ["completion", "--help"],
    ],
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(argv)
    assert done.value.code == 0
    assert "usage: shakedown" in capsys.readouterr().out


# --------------------------------------------------------------------------- get
def cir_obj(name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ci", "creationTimestamp": "2026-05-01T11:00:00Z"},
        "spec": {"tag": "latest"},
        "status": status,
    }


def test_table_is_aligned_like_kubectl() -> None:
    objects = [
        cir_obj(
            "unit-tests",
            promotedDigest=D1,
            lastRun={"phase": "Succeeded", "trigger": "Schedule"},
            conditions=[
                {"type": "Ready", "status": "True", "reason": "Promoted", "message": "ok"},
            ],
        ),
        cir_obj(
            "x", conditions=[{"type": "Stalled", "status": "True", "message": "spec.tag: bad"}]
        ),
    ]
    columns = [c for c in get.COLUMNS["ContainerImageRefresh"] if not c.wide]
    lines, widths = get.render(objects, columns)
    assert lines[0].split() == [
        "NAME",
        "TAG",
        "PROMOTED",
        "LAST",
        "RUN",
        "TRIGGER",
        "STATE",
        "AGE",
        "MESSAGE",
    ]
    assert "sha256:111111111111 " in lines[1]
    assert "Ready" in lines[1] and "Stalled" in lines[2]
    assert lines[2].endswith("spec.tag: bad")
    # Every column starts at the same offset in every line.
    starts = [lines[0].index("TAG"), lines[0].index("AGE")]
    assert lines[1].index("latest") == starts[0] == lines[2].index("latest")
    more, _ = get.render(objects[:1], columns, header=False, widths=widths)
    assert more == [lines[1]]


def test_namespace_column_for_all_namespaces() -> None:
    lines, _ = get.render(
        [cir_obj("a")], get.COLUMNS["ContainerImageRefresh"], namespace_column=True
    )
    assert lines[0].startswith("NAMESPACE   NAME")
    assert lines[1].startswith("ci          a")


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2026-05-01T11:59:15Z", "45s"),
        ("2026-05-01T11:55:00Z", "5m"),
        ("2026-05-01T09:00:00Z", "3h"),
        ("2026-04-28T12:00:00Z", "3d"),
        (None, "<unknown>"),
    ],
)
def test_age(created: str | None, expected: str) -> None:
    assert reading.age(created, now=NOW) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-05-01T12:00:00Z", "2026-05-01T12:03:05Z", 185.0),
        ("2026-05-01T12:03:05Z", "2026-05-01T12:00:00Z", 0.0),
        ("2026-05-01T12:00:00Z", None, None),
        ("yesterday", "2026-05-01T12:00:00Z", None),
    ],
)
def test_seconds_between_status_times(
    start: str | None, end: str | None, expected: float | None
) -> None:
    """The one duration rule of get, describe, prove and the dashboard: unknown, never negative."""
    assert reading.seconds_between(start, end) == expected


def test_other_helpers_can_add_columns() -> None:
    saved = list(get.COLUMNS["InfraRollout"])
    try:
        get.add_columns("InfraRollout", [get.Column(header="WEIGHT", cell=lambda o: "25")])
        headers = [c.header for c in get.COLUMNS["InfraRollout"]]
        assert headers.index("WEIGHT") == headers.index("AGE") - 1
    finally:
        get.COLUMNS["InfraRollout"][:] = saved


# --------------------------------------------------------------------------- steer
def test_trigger_sets_a_new_value_each_time() -> None:
    obj = cir_obj("unit-tests")
    first = steering.plan_trigger(obj, now=NOW)
    second = steering.plan_trigger(obj, now=NOW.replace(microsecond=1))
    assert first.annotation == "shakedown.dev/run-requested"
    assert first.value != second.value


def history(*digests: str) -> list[dict[str, str]]:
    return [{"digest": d, "promotedAt": "2026-05-01T00:00:00Z", "runId": "r"} for d in digests]


def test_rollback_defaults_to_the_previous_promoted_digest() -> None:
    obj = cir_obj("unit-tests", promotedDigest=D3, history=history(D3, D2, D1))
    action = steering.plan_rollback(obj, now=NOW)
    assert (action.annotation, action.value) == ("shakedown.dev/rollback-to", D2)


def test_rollback_to_a_digest_from_history() -> None:
    obj = cir_obj("unit-tests", promotedDigest=D3, history=history(D3, D2, D1))
    assert steering.plan_rollback(obj, to=D1).value == D1


def test_rollback_again_to_the_same_digest_is_a_new_request() -> None:
    obj = cir_obj("unit-tests", promotedDigest=D3, history=history(D3, D2, D1))
    obj["metadata"]["annotations"] = {"shakedown.dev/rollback-to": D2}
    action = steering.plan_rollback(obj, now=NOW)
    assert action.value.startswith(D2 + " ") and action.value != D2


@pytest.mark.parametrize(
    ("status", "to", "needle"),
    [
        ({"promotedDigest": D1, "history": history(D1)}, None, "no earlier promoted digest"),
        ({}, None, "no earlier promoted digest"),
        ({"promotedDigest": D3, "history": history(D3, D2)}, "latest", "not a digest"),
        ({"promotedDigest": D3, "history": history(D3, D2)}, D1, "not in status.history"),
        ({"promotedDigest": D3, "history": history(D3, D2)}, D3, "already points"),
    ],
)
def test_rollback_refusals_are_user_errors(
    status: dict[str, Any], to: str | None, needle: str
) -> None:
    with pytest.raises(UserError, match=needle):
        steering.plan_rollback(cir_obj("unit-tests", **status), to=to)


def test_promote_and_abort_annotations() -> None:
    obj = {"metadata": {"name": "tasks"}}
    assert steering.plan_promote(obj, now=NOW).annotation == "shakedown.dev/promote"
    assert steering.plan_abort(obj, now=NOW).annotation == "shakedown.dev/abort"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["trigger", "iro", "tasks"], "trigger works on cir only"),
        (["promote", "cir", "unit-tests"], "promote works on iro only"),
        (["abort", "cir", "unit-tests"], "abort works on iro only"),
        (["rollback", "iro", "tasks"], "shakedown abort iro"),
    ],
)
def test_verbs_refuse_the_wrong_kind(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_run_with_a_busy_metrics_port_is_one_line(tmp_path: Path) -> None:
    import socket

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(SHAKEDOWN), "run", "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
            env={"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"shakedown: --metrics-port {port}: cannot listen")
    assert result.stderr.count("\n") == 1
