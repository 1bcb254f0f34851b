"""The list-then-watch loop of ``get --watch`` and the dashboard: resume, re-list on 410, stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shakedown.adapters.listwatch import CustomObjects, Gone, Listing, Obj, follow


def obj(name: str, version: str) -> Obj:
    return {"metadata": {"name": name, "resourceVersion": version}}


class Stop(Exception):
    pass


class FakeSource:
    """Scripted watches: each entry is a list of events, or Gone to raise."""

    def __init__(self, watches: list[list[tuple[str, Obj]] | type[Gone]], relist: Listing) -> None:
        self.watches = watches
        self.relist = relist
        self.watched_from: list[str] = []
        self.lists = 0

    def list(self) -> Listing:
        self.lists += 1
        return self.relist

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
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
        [[("MODIFIED", obj("a", "11"))], [("BOOKMARK", obj("", "15"))], []],
        relist=Listing([], "0"),
    )
    seen: list[tuple[str, str]] = []
    listed: list[Listing] = []
    with pytest.raises(Stop):
        follow(
            source,
            Listing([], "10"),
            on_listed=listed.append,
            on_event=lambda kind, o: seen.append((kind, o["metadata"]["resourceVersion"])),
        )
    assert source.watched_from == ["10", "11", "15", "15"]
    assert seen == [("MODIFIED", "11")]  # a bookmark is not a change
    assert source.lists == 0 and listed == []


def test_follow_lists_again_when_the_version_is_gone() -> None:
    fresh = Listing([obj("a", "40")], "42")
    source = FakeSource([Gone, [("MODIFIED", obj("a", "43"))]], relist=fresh)
    relisted: list[Listing] = []
    seen: list[str] = []
    with pytest.raises(Stop):
        follow(
            source,
            Listing([], "10"),
            on_listed=relisted.append,
            on_event=lambda kind, o: seen.append(o["metadata"]["resourceVersion"]),
        )
    assert relisted == [fresh]
    assert source.watched_from == ["10", "42", "43"]
    assert seen == ["43"]


def test_follow_without_a_listing_lists_first_and_ends_when_stopped() -> None:
    first = Listing([obj("a", "5")], "5")
    source = FakeSource([[("ADDED", obj("b", "6")), ("MODIFIED", obj("b", "7"))]], relist=first)
    listed: list[Listing] = []
    seen: list[str] = []
    follow(
        source,
        on_listed=listed.append,
        on_event=lambda kind, o: seen.append(o["metadata"]["resourceVersion"]),
        stopped=lambda: len(seen) == 1,
    )
    assert listed == [first]
    assert source.watched_from == ["5"]
    assert seen == ["6"], "nothing is passed on after stopped() says so"


def test_a_watch_past_its_deadline_returns_without_asking_the_server() -> None:
    past = CustomObjects(api=None, plural="infrarollouts", namespace="ns", deadline=0.0)
    assert list(past.watch("1")) == []
