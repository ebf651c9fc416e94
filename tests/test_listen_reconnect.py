"""The LISTEN connections of the live hub and of the evaluator come back after the server
drops them; the hub tells its clients to reload, since notifications in the gap are lost."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from api.live import EventHub
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import list_alerts
from core.storage.events import announce
from tests.support.ingest import running_ingest
from tests.support.operations import ago, publish, register, running_operations
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def _drop(pool: asyncpg.Pool, pid: int | None) -> None:
    assert pid is not None
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", pid)


async def test_hub_reconnects_and_sends_reset(
    database_url: str, pool: asyncpg.Pool, uid: str
) -> None:
    hub = EventHub(database_url)
    await hub.start()
    try:
        before, pid = hub.last_id, hub.backend_pid()
        await _drop(pool, pid)
        events = await eventually(
            lambda: asyncio.sleep(0, hub.since(before) or []),
            lambda e: any(x.type == "reset" for x in e),
        )
        assert hub.backend_pid() != pid
        mark = events[-1].id
        await announce(
            pool, "state", [{"device_id": f"D-{uid}", "kind": "flood_gauge", "online": True}]
        )
        after = await eventually(
            lambda: asyncio.sleep(0, hub.since(mark) or []), lambda e: len(e) == 1
        )
        assert (after[0].type, after[0].device_id) == ("state", f"D-{uid}")
    finally:
        await hub.close()


async def test_evaluator_listens_again_after_losing_its_connection(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    g = f"AWLR-RECON-{uid}"
    await register(pool, "flood_gauge", [g])
    config = AlertConfig(
        flood_stations={g: FloodThresholds(waspada=100, siaga=200, awas=300)}, evaluate_every_s=3600
    )
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        pid = ops.backend_pid()
        await _drop(pool, pid)
        await eventually(
            lambda: asyncio.sleep(0, ops.backend_pid()), lambda p: p not in (None, pid)
        )
        await publish(settings, "flood_gauge", g, [{"ts": ago(1), "water_level": 150.0}])
        [alert] = await eventually(lambda: list_alerts(pool, device_id=g), lambda a: len(a) == 1)
    assert alert.details["level"] == "WASPADA"
