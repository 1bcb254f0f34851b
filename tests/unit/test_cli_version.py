"""``shakedown version`` and the completion script (run in a real bash)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from shakedown.cli.main import build_parser, main
from shakedown.cli.version import bash_script, client_version, completion_tree, operator_versions


def test_client_version_comes_from_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "--client"]) == 0
    assert capsys.readouterr().out == f"client:   shakedown {client_version()}\n"
    assert client_version().count(".") >= 2


def test_operator_version_is_read_from_the_chart_labels() -> None:
    deployment: Any = {
        "metadata": {
            "name": "shakedown",
            "namespace": "shakedown-system",
            "labels": {"app.kubernetes.io/version": "0.1.0"},
        },
        "spec": {"template": {"spec": {"containers": [{"image": "reg/shakedown:0.1.0"}]}}},
    }
    assert operator_versions([deployment]) == [
        "0.1.0 (shakedown-system/shakedown, image reg/shakedown:0.1.0)"
    ]


def test_version_without_a_cluster_still_prints_the_client(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert main(["version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("client:   shakedown ")
    assert out[1].startswith("operator: unknown (KUBECONFIG names")


def complete(*words: str) -> list[str]:
    script = bash_script(completion_tree(build_parser()))
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=(shakedown {quoted}); COMP_CWORD={len(words)}; _shakedown; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "--norc", "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.split()


def test_completion_offers_commands_kinds_options_and_values() -> None:
    assert {"get", "logs", "undo", "retry", "pause", "resume", "suspend", "version"} <= set(
        complete("")
    )
    assert complete("ge") == ["get"]
    assert complete("get", "") == ["cir", "iro"]
    assert complete("get", "-n", "prod", "") == ["cir", "iro"]
    assert complete("get", "iro", "") == [], "no kinds after the kind"
    assert complete("get", "-o", "") == ["table", "wide", "yaml", "json"]
    assert "--to-revision" in complete("undo", "iro", "web", "--")
    assert complete("cluster", "") == ["up", "down", "status", "env", "restart", "image"]
    assert complete("completion", "") == ["bash", "zsh"]
