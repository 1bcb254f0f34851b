"""The dashboard's guard, its HTTP routes and its shared watches, without a cluster.

The routes run in a real aiohttp server on loopback; the watch reads a fake
source that fails the way a lost API server does, then comes back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shakedown.adapters.listwatch import Listing, Obj
from shakedown.cli.main import main
from shakedown.dashboard import actions, guard, server
from shakedown.dashboard.watches import Card, Hub, KindWatch

TOKEN = "t0ken"
HOSTS = guard.allowed_hosts("127.0.0.1", 3100)


# --------------------------------------------------------------------------- guard
def refuse(method: str = "POST", **headers: str | None) -> str | None:
    given: dict[str, str | None] = {"host": "127.0.0.1:3100", "origin": None, "token": TOKEN}
    given.update(headers)
    return guard.refuse(
        method=method,
        host=given["host"],
        origin=given["origin"],
        token=given["token"],
        expected_token=TOKEN,
        hosts=HOSTS,
    )


def test_the_dashboards_own_requests_are_accepted() -> None:
    assert refuse("GET", token=None) is None
    assert refuse(origin="http://127.0.0.1:3100") is None
    assert refuse(host="localhost:3100", origin="http://localhost:3100") is None


@pytest.mark.parametrize(
    ("method", "headers", "why"),
    [
        ("POST", {"token": None}, "missing or wrong request token"),
        ("POST", {"token": "guess"}, "missing or wrong request token"),
        ("POST", {"origin": "https://evil.example"}, "cross-site request refused"),
        ("GET", {"host": "evil.example:3100", "token": None}, "unexpected Host header"),
        ("POST", {"host": "127.0.0.1:9999"}, "unexpected Host header"),
    ],
)
def test_cross_site_and_rebound_requests_are_refused(
    method: str, headers: dict[str, str | None], why: str
) -> None:
    reason = refuse(method, **headers)
    assert reason is not None and why in reason


def test_a_wildcard_bind_takes_any_host_but_still_wants_the_token() -> None:
    hosts = guard.allowed_hosts("0.0.0.0", 3100)
    assert hosts is None
    assert (
        guard.refuse(
            method="POST",
            host="10.0.0.5:3100",
            origin=None,
            token=TOKEN,
            expected_token=TOKEN,
            hosts=hosts,
        )
        is None
    )
    assert guard.refuse(
        method="POST",
        host="10.0.0.5:3100",
        origin=None,
        token="",
        expected_token=TOKEN,
        hosts=hosts,
    )


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_warning(address: str) -> None:
    assert guard.bind_warning(address) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.5", "dash.example"])
def test_any_other_address_is_warned_about(address: str) -> None:
    warning = guard.bind_warning(address)
    assert warning is not None and address in warning and "credentials" in warning


def test_the_command_prints_the_warning_before_it_listens(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert main(["dashboard", "--address", "0.0.0.0", "--port", "0"]) == 2
    assert "--port 0: not a port number" in capsys.readouterr().err
    assert main(["dashboard", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("WARNING: the dashboard listens on 0.0.0.0")
    assert "KUBECONFIG names" in err and "Traceback" not in err
    assert main(["dashboard"]) == 2
    assert "WARNING" not in capsys.readouterr().err


# --------------------------------------------------------------------------- routes
def run_app(test: Callable[[TestServer, Hub], Awaitable[None]], act: Any = None) -> None:
    async def body() -> None:
        hub = Hub(asyncio.get_running_loop())
        hub.set_state("cir", True, "")
        hub.upsert("cir", "cir-ci-app", ("ci", "app"), '<section class="card" id="cir-ci-app">')
        config = server.Config(
            scope="namespace ci",
            token=TOKEN,
            hosts=None,
            act=act or (lambda *a: "done"),
        )
        srv = TestServer(server.build_app(config, hub), host="127.0.0.1")
        async with srv:
            await asyncio.wait_for(test(srv, hub), 20)

    asyncio.run(body())


def test_a_page_has_the_cards_and_the_token_and_forbids_framing() -> None:
    async def test(srv: TestServer, hub: Hub) -> None:
        async with aiohttp.ClientSession() as http, http.get(srv.make_url("/images")) as got:
            text = await got.text()
            assert got.status == 200
            assert 'id="cir-ci-app"' in text and f'content="{TOKEN}"' in text
            assert got.headers["X-Frame-Options"] == "DENY"

    run_app(test)


def test_an_action_needs_the_token_and_a_refusal_comes_back_in_words() -> None:
    calls: list[tuple[Any, ...]] = []

    def act(*args: Any) -> str:
        calls.append(args)
        raise actions.ActionError("403 Forbidden: you may not")

    async def test(srv: TestServer, hub: Hub) -> None:
        url = srv.make_url("/actions/cir/ci/app/trigger")
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data={"x": "1"}) as got:
                assert got.status == 403
                assert "request token" in (await got.json())["message"]
            assert calls == []
            headers = {"X-Shakedown-Token": TOKEN}
            async with http.post(url, data={"digest": "d"}, headers=headers) as got:
                assert got.status == 400
                assert await got.json() == {"ok": False, "message": "403 Forbidden: you may not"}
        assert calls == [("cir", "trigger", "ci", "app", {"digest": "d"})]

    run_app(test, act)


def test_the_event_stream_sends_every_card_then_each_change() -> None:
    async def test(srv: TestServer, hub: Hub) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(srv.make_url("/events?kind=cir")) as got,
        ):
            events = await read_events(got, until="synced")
            assert [e for e, _ in events] == ["state", "card", "synced"]
            assert events[1][1]["id"] == "cir-ci-app"
            hub.upsert("iro", "iro-x", ("ci", "x"), "<section>")  # another page's kind
            hub.upsert("cir", "cir-ci-b", ("ci", "b"), "<section>b</section>")
            [(name, data)] = await read_events(got, until="card")
            assert (name, data["id"], data["html"]) == ("card", "cir-ci-b", "<section>b</section>")

    run_app(test)


async def read_events(response: Any, *, until: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().strip()
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
            if name == until:
                return events


# --------------------------------------------------------------------------- watches
class FlakySource:
    """Fails like an unreachable API server until ``back`` is set, then lists one object."""

    def __init__(self) -> None:
        self.back = threading.Event()
        self.done = threading.Event()

    def list(self) -> Listing:
        if not self.back.is_set():
            raise ConnectionRefusedError("connection refused")
        return Listing([{"metadata": {"namespace": "ci", "name": "app"}}], "7")

    def watch(self, resource_version: str) -> Iterator[tuple[str, Obj]]:
        yield "MODIFIED", {"metadata": {"namespace": "ci", "name": "app"}, "v": 2}
        self.done.wait(10)


def test_a_lost_cluster_is_shown_and_the_cards_come_back_when_it_returns() -> None:
    async def body() -> None:
        hub = Hub(asyncio.get_running_loop())
        queue = hub.subscribe()
        source, stop = FlakySource(), threading.Event()
        card = Card(
            id=lambda o: f"cir-{o['metadata']['name']}",
            key=lambda o: ("ci", o["metadata"]["name"]),
            html=lambda o: f"<p>{o.get('v', 1)}</p>",
        )
        KindWatch(kind="cir", source=source, card=card, hub=hub, stop=stop).start()
        try:
            first = await asyncio.wait_for(queue.get(), 10)
            assert first is not None and first.event == "state"
            assert not first.data["ok"] and "lost the connection" in first.data["message"]
            source.back.set()
            seen: list[tuple[str, Any]] = []
            while not (seen and seen[-1] == ("card", "<p>2</p>")):
                push = await asyncio.wait_for(queue.get(), 20)
                assert push is not None
                seen.append((push.event, push.data.get("html", push.data.get("ok"))))
            assert seen == [("card", "<p>1</p>"), ("state", True), ("card", "<p>2</p>")]
            assert hub.sorted_cards("cir") == ["<p>2</p>"]
        finally:
            stop.set()
            source.done.set()

    asyncio.run(body())


def test_a_page_that_stops_reading_is_dropped_and_told_to_resync() -> None:
    async def body() -> None:
        hub = Hub(asyncio.get_running_loop())
        slow, fast = hub.subscribe(), hub.subscribe()
        for n in range(Hub.QUEUE_SIZE + 1):
            hub.upsert("cir", "c", ("ci", "c"), f"<p>{n}</p>")
            while not fast.empty():
                fast.get_nowait()
        assert slow.get_nowait() is None and slow.empty()
        hub.upsert("cir", "c", ("ci", "c"), "<p>later</p>")
        assert slow.empty() and fast.qsize() == 1

    asyncio.run(body())
