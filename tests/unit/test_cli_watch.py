"""``--watch``: follow from the printed list's version, re-list on 410, redraw views."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from shakedown.cli import get
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
