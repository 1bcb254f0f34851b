"""``get --watch``: follow from the printed list's version, redraw views, a row per change."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from shakedown.adapters.listwatch import Listing, Obj
from shakedown.cli import get
from shakedown.cli.main import build_parser


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


def test_redraw_clears_a_terminal_and_separates_copies_otherwise() -> None:
    assert get.redraw(["a", "b"], tty=True, first=False) == get.CLEAR + "a\nb\n"
    assert get.redraw(["a"], tty=False, first=True) == "a\n"
    assert get.redraw(["a"], tty=False, first=False) == "\n---\na\n"


class TtyOut(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def rollout(phase: str, version: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "prod", "resourceVersion": version},
        "spec": {"targets": [{"kind": "Deployment", "name": "web"}]},
        "status": {"phase": phase, "revision": 1},
    }


def watch_output(monkeypatch: pytest.MonkeyPatch, argv: list[str], *, tty: bool) -> str:
    """``shakedown get`` against a scripted list and one change, then Ctrl-C."""
    watched: list[str] = []

    class Source:
        def __init__(self, *args: Any) -> None:
            pass

        def list(self) -> Listing:
            return Listing([rollout("Shifting", "5")], "5")

        def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
            watched.append(resource_version)
            yield "MODIFIED", rollout("Baking", "6")
            raise KeyboardInterrupt

    monkeypatch.setattr("shakedown.adapters.listwatch.CustomObjects", Source)
    monkeypatch.setattr("shakedown.cli.kube.custom_api", lambda: None)
    out = TtyOut(tty)
    assert get.run(build_parser().parse_args(argv), out=out) == 0
    assert watched == ["5"], "the watch starts at the printed list's version"
    return out.getvalue()


def test_watching_one_rollout_redraws_the_view_in_place_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = watch_output(monkeypatch, ["get", "iro", "web", "-n", "prod", "-w"], tty=True)
    first, second = text.split(get.CLEAR)[1:]
    assert "Phase:      Shifting" in first and "Phase:      Baking" in second
    assert second.splitlines()[0].startswith("NAME")


def test_watching_one_rollout_without_a_terminal_prints_separated_views(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = watch_output(monkeypatch, ["get", "iro", "web", "-n", "prod", "-w"], tty=False)
    assert get.CLEAR not in text
    first, second = text.split("\n---\n")
    assert "Phase:      Shifting" in first and "Phase:      Baking" in second


def test_watching_a_table_prints_a_row_per_change(monkeypatch: pytest.MonkeyPatch) -> None:
    text = watch_output(monkeypatch, ["get", "iro", "-n", "prod", "-w"], tty=True)
    lines = text.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["NAME", "REVISION", "PHASE"],
        ["web", "1", "Shifting"],
        ["web", "1", "Baking"],
    ]
