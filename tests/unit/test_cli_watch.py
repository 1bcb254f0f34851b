"""``--watch``: follow from the printed list's version, re-list on 410, redraw views."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from shakedown.cli import get
from shakedown.cli.main import build_parser
from shakedown.cli.watching import Gone, Listing, follow


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


class Stop(Exception):
    pass


class FakeSource:
    """Scripted watches: each entry is a list of events, or Gone to raise."""

    def __init__(self, watches: list[list[dict[str, Any]] | type[Gone]], relist: Listing) -> None:
        self.watches = watches
        self.relist = relist
        self.watched_from: list[str] = []
        self.lists = 0

    def list(self) -> Listing:
        self.lists += 1
        return self.relist

    def watch(self, resource_version: str) -> Iterator[Mapping[str, Any]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            raise Stop
        script = self.watches.pop(0)
        if script is Gone:
            raise Gone("too old")
        assert isinstance(script, list)
        yield from script


def test_follow_starts_at_the_printed_version_and_resumes_from_the_last_event() -> None:
    source = FakeSource(
        [
            [{"type": "MODIFIED", "object": obj("a", "11")}],
            [{"type": "BOOKMARK", "object": obj("", "15")}],
            [],
        ],
        relist=Listing([], "0"),
    )
    seen: list[tuple[str, str]] = []
    with pytest.raises(Stop):
        follow(
            source,
            "10",
            on_event=lambda kind, o: seen.append((kind, o["metadata"]["resourceVersion"])),
            on_relist=lambda listing: None,
        )
    assert source.watched_from == ["10", "11", "15", "15"]
    assert seen == [("MODIFIED", "11")]  # a bookmark is not a change
    assert source.lists == 0


def test_follow_lists_again_when_the_version_is_gone() -> None:
    fresh = Listing([obj("a", "40")], "42")
    source = FakeSource([Gone, [{"type": "MODIFIED", "object": obj("a", "43")}]], relist=fresh)
    relisted: list[Listing] = []
    seen: list[str] = []
    with pytest.raises(Stop):
        follow(
            source,
            "10",
            on_event=lambda kind, o: seen.append(o["metadata"]["resourceVersion"]),
            on_relist=relisted.append,
        )
    assert relisted == [fresh]
    assert source.watched_from == ["10", "42", "43"]
    assert seen == ["43"]


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

        def watch(self, resource_version: str) -> Iterator[Mapping[str, Any]]:
            watched.append(resource_version)
            yield {"type": "MODIFIED", "object": rollout("Baking", "6")}
            raise KeyboardInterrupt

    monkeypatch.setattr("shakedown.cli.watching.KubeSource", Source)
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
