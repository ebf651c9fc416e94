"""The live stream: readings and alerts as they happen, filters, keep-alives, and a
reconnect with Last-Event-ID that misses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from alerts.config import AlertConfig, FloodThresholds
from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.ingest import running_ingest
from tests.support.operations import ago, publish, register, running_operations
from tests.support.server import serving
from tests.support.sse import Sse, events

pytestmark = pytest.mark.anyio


async def _take(
    stream: AsyncIterator[Sse | str], n: int, within: float = 15
) -> tuple[list[Sse], int]:
    """The next ``n`` events (and how many keep-alive comments came along)."""
    got: list[Sse] = []
    comments = 0

    async def read() -> None:
        nonlocal comments
        async for ev in stream:
            if isinstance(ev, str):
                comments += 1
                continue
            got.append(ev)
            if len(got) == n:
                return

    await asyncio.wait_for(read(), within)
    return got, comments


async def test_stream_resumes_after_reconnect_without_losing_events(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    g, other = f"AWLR-SSE-{uid}", f"AWLR-NOISE-{uid}"
    await register(pool, "flood_gauge", [g, other])
    config = AlertConfig(
        flood_stations={g: FloodThresholds(waspada=100, siaga=200, awas=300)},
        evaluate_every_s=3600,
    )
    app = create_app(settings, kinds, pool=pool)
    app.state.sse_keepalive_s = 0.2

    async def send(device: str, level: float, minutes_ago: float) -> None:
        await publish(
            settings, "flood_gauge", device, [{"ts": ago(minutes_ago), "water_level": level}]
        )

    async with (
        running_ingest(settings, pool, kinds),
        serving(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        async with http.stream("GET", "/stream", params={"device": g}) as first:
            assert first.headers["content-type"].startswith("text/event-stream")
            first_events = events(first)
            await send(other, 1, 10)  # filtered out
            await send(g, 1, 9)
            await send(g, 2, 8)
            seen, _ = await _take(first_events, 2)
        assert [(e.event, e.data["values"]["water_level"]) for e in seen] == [
            ("reading", 1),
            ("reading", 2),
        ]
        last = seen[-1].id
        assert last is not None

        # while nobody listens
        hub = app.state.hub
        before = hub.last_id
        await send(g, 3, 7)
        await send(other, 99, 7)
        await send(g, 4, 6)
        for _ in range(400):
            if hub.last_id >= before + 3:
                break
            await asyncio.sleep(0.025)

        async with (
            running_operations(settings, pool, kinds, config),
            http.stream(
                "GET",
                "/stream",
                params={"device": g, "kind": "flood_gauge", "district": "Muara Enim"},
                headers={"Last-Event-ID": last},
            ) as again,
        ):
            again_events = events(again)
            missed, _ = await _take(again_events, 2)
            await send(g, 150, 5)  # live again, and it crosses WASPADA
            live, comments = await _take(again_events, 2)
        got = [*missed, *live]
        readings = [e.data["values"]["water_level"] for e in got if e.event == "reading"]
        assert readings == [3, 4, 150]
        alert = next(e for e in got if e.event == "alert")
        assert (alert.data["rule"], alert.data["device_id"], alert.data["status"]) == (
            "flood_level",
            g,
            "open",
        )
        ids = [int(e.id) for e in [*seen, *got] if e.id]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)

        async with http.stream("GET", "/stream", headers={"Last-Event-ID": "1"}) as stale:
            [reset], _ = await _take(events(stale), 1)
        assert reset.event == "reset"

        async with http.stream("GET", "/stream", params={"device": g}) as quiet:
            _, comments = await asyncio.wait_for(_keepalives(quiet), 10)
        assert comments >= 2


async def _keepalives(resp: httpx.Response) -> tuple[None, int]:
    n = 0
    async for ev in events(resp):
        if isinstance(ev, str):
            n += 1
            if n == 2:
                break
    return None, n


async def test_stream_rejects_bad_filters(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    from tests.support.api import api_client

    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.get("/stream", params={"kind": "toaster"})
    assert r.status_code == 422
    assert "use one of" in r.json()["detail"]
