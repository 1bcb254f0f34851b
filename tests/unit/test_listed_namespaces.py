"""``handlers.listed_namespaces``: a namespace kopf first meets in its watch's listing is served.

These run kopf's real observation code: the fix replaces one of its functions,
so a kopf whose shape changed fails here rather than silently in a cluster. When
the first test fails, kopf serves such a namespace by itself: the fix can go.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest
from kopf._cogs.structs import bodies, references
from kopf._core.reactor import observation

from shakedown.handlers import listed_namespaces

#: ``configure`` and ``listed_namespaces.install`` wrap a function of kopf's: put it back.
pytestmark = pytest.mark.usefixtures("kopf_as_it_was")


def listed(name: str) -> dict[str, Any]:
    return {"type": None, "object": {"metadata": {"name": name}}}


async def process(raw_event: dict[str, Any], insights: references.Insights) -> bool:
    """Feed one event the way kopf's namespace observer does; whether a waiter was woken."""
    await insights.revised.acquire()  # as kopf's orchestrator: held, released by its waiter
    waiter = asyncio.ensure_future(insights.revised.wait())
    await asyncio.sleep(0)
    await observation.process_discovered_namespace_event(
        raw_event=cast(bodies.RawEvent, raw_event), namespaces=["team-*"], insights=insights
    )
    for _ in range(3):  # the waiter wakes and takes the lock back
        await asyncio.sleep(0)
    woken = waiter.done()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    insights.revised.release()  # the waiter, woken or cancelled, took the lock back
    return woken


def test_kopf_alone_drops_a_namespace_met_in_its_watchs_listing() -> None:
    """The race the fix is for: without it, kopf never serves this namespace."""
    insights = references.Insights()
    woken = asyncio.run(process(listed("team-a"), insights))
    assert insights.namespaces == set() and not woken


def test_a_namespace_met_in_the_listing_is_served_and_kopf_replans() -> None:
    assert listed_namespaces.install()
    insights = references.Insights()
    woken = asyncio.run(process(listed("team-a"), insights))
    assert insights.namespaces == {"team-a"} and woken


def test_a_listed_namespace_already_served_or_not_matching_replans_nothing() -> None:
    assert listed_namespaces.install()

    async def both() -> tuple[bool, bool]:
        insights.namespaces.add(references.NamespaceName("team-a"))
        return await process(listed("team-a"), insights), await process(listed("other"), insights)

    insights = references.Insights()
    assert asyncio.run(both()) == (False, False)
    assert insights.namespaces == {"team-a"}


def test_watch_events_still_take_kopfs_own_path() -> None:
    assert listed_namespaces.install()
    added = {"type": "ADDED", "object": {"metadata": {"name": "team-b"}}}
    deleted = {
        "type": "DELETED",
        "object": {"metadata": {"name": "team-b", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
    }

    async def both() -> set[references.Namespace]:
        assert await process(added, insights)
        served = set(insights.namespaces)
        await process(deleted, insights)
        return served

    insights = references.Insights()
    assert asyncio.run(both()) == {"team-b"}
    assert insights.namespaces == set()


def test_installing_twice_wraps_once() -> None:
    assert listed_namespaces.install()
    first = observation.process_discovered_namespace_event
    assert listed_namespaces.install()
    assert observation.process_discovered_namespace_event is first


def test_a_kopf_of_another_shape_is_left_alone_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def other(*, event: Any) -> None:
        return None

    monkeypatch.setattr(observation, "process_discovered_namespace_event", other)
    assert not listed_namespaces.install()
    assert observation.process_discovered_namespace_event is cast(Any, other)
    assert "namespaces created at start may wait" in caplog.text
