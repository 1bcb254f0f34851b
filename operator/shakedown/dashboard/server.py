"""The dashboard's HTTP side (aiohttp): pages, Server-Sent Events, actions, static files.

Routes only wire: pages come from ``render`` with the hub's current cards, the
event stream relays the hub's pushes, and actions run ``actions.run`` in a
thread. ``guard`` screens every request first.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from shakedown.dashboard import actions, guard, render
from shakedown.dashboard.html import Html
from shakedown.dashboard.watches import Hub, Push

STATIC = Path(__file__).with_name("static")
KINDS = {"images": "cir", "rollouts": "iro"}
#: Seconds between comment lines on an idle event stream (keeps proxies and browsers from
#: closing it, and shows the server is alive).
KEEPALIVE = 15.0


@dataclass(frozen=True, kw_only=True)
class Config:
    scope: str
    """Which namespaces are shown, in words."""
    token: str
    hosts: frozenset[str] | None
    act: Callable[[str, str, str, str, dict[str, str]], str]
    """Blocking: (kind, verb, namespace, name, form) -> what to tell the user."""


HUB = web.AppKey("hub", Hub)
CONFIG = web.AppKey("config", Config)


def new_token() -> str:
    return secrets.token_urlsafe(32)


@web.middleware
async def screen(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    config = request.app[CONFIG]
    refused = guard.refuse(
        method=request.method,
        host=request.headers.get("Host"),
        origin=request.headers.get("Origin"),
        token=request.headers.get("X-Shakedown-Token"),
        expected_token=config.token,
        hosts=config.hosts,
    )
    if refused is not None:
        return web.json_response({"ok": False, "message": refused}, status=403)
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    )
    return response


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/images")


async def page(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["page"]
    if slug not in KINDS:
        raise web.HTTPNotFound()
    config, hub = request.app[CONFIG], request.app[HUB]
    cards = [Html(c) for c in hub.sorted_cards(KINDS[slug])]
    body = render.page(active=slug, scope=config.scope, token=config.token, cards=cards)
    return web.Response(text=str(body), content_type="text/html", charset="utf-8")


def _sse(push_event: str, data: dict[str, Any]) -> bytes:
    return f"event: {push_event}\ndata: {json.dumps(data)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("kind", "")
    if kind not in KINDS.values():
        raise web.HTTPBadRequest(text="kind must be cir or iro")
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        for first in hub.snapshot(kind):
            await response.write(_sse(first.event, first.data))
        await response.write(_sse("synced", {"kind": kind}))
        while True:
            try:
                push: Push | None = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if push is None:
                break  # fell behind: the page reconnects and gets a fresh snapshot
            if push.data.get("kind") == kind:
                await response.write(_sse(push.event, push.data))
    except ConnectionResetError:
        pass  # the page went away
    finally:
        hub.unsubscribe(queue)
    return response


async def act(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    kind, verb = request.match_info["kind"], request.match_info["verb"]
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    form = {k: str(v) for k, v in (await request.post()).items() if isinstance(v, str)}
    loop = asyncio.get_running_loop()
    try:
        says = await loop.run_in_executor(None, config.act, kind, verb, namespace, name, form)
    except actions.ActionError as exc:
        return web.json_response({"ok": False, "message": str(exc)}, status=400)
    return web.json_response({"ok": True, "message": says})


def build_app(config: Config, hub: Hub) -> web.Application:
    app = web.Application(middlewares=[screen], client_max_size=64 * 1024)
    app[CONFIG] = config
    app[HUB] = hub
    app.router.add_get("/", index)
    app.router.add_get("/events", events)
    app.router.add_post("/actions/{kind}/{namespace}/{name}/{verb}", act)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/{page}", page)
    return app


async def serve(
    *,
    address: str,
    port: int,
    config: Config,
    start_watches: Callable[[Hub, threading.Event], None],
    ready: Callable[[str], None],
) -> None:
    """Run until cancelled: the watches, then the HTTP server; ``ready(url)`` once listening."""
    hub = Hub(asyncio.get_running_loop())
    stop = threading.Event()
    start_watches(hub, stop)
    # Open event streams never end by themselves: give them a second, not a minute, on Ctrl-C.
    runner = web.AppRunner(build_app(config, hub), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, address, port)
        await site.start()
        host = f"[{address}]" if ":" in address else address
        ready(f"http://{host}:{port}/")
        await asyncio.Event().wait()
    finally:
        stop.set()
        await runner.cleanup()
