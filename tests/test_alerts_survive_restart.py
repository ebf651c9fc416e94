"""The alert service's loops survive a PostgreSQL restart, as ingest does: afterwards a
flood crossing still opens its alarm, and no loop has quietly ended."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from alerts.service import LoopStoppedError, OperationsService
from citysense.local.mosquitto import LocalMosquitto
from core.kinds import KindRegistry
from core.settings import Settings, load_settings
from core.storage.alerts import list_alerts
from core.storage.pool import create_pool
from tests.support.ingest import running_ingest
from tests.support.operations import ago, publish, register, running_operations
from tests.support.private_pg import PrivatePg, private_postgres
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


def live_loops() -> int:
    """The operations service's loops still running (each runs inside ``_guard``)."""
    return sum(
        1
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "") == "OperationsService._guard"
    )


@pytest.fixture(scope="module")
def restartable_pg() -> Iterator[PrivatePg]:
    with private_postgres() as pg:
        yield pg


async def test_a_flood_crossing_opens_its_alarm_after_postgres_restarts_under_the_loops(
    restartable_pg: PrivatePg, broker: LocalMosquitto, kinds: KindRegistry
) -> None:
    settings: Settings = load_settings(
        database_url=restartable_pg.url,
        mqtt_port=broker.port,
        ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        ingest_batch_max_age_ms=20,
    )
    pool = await create_pool(restartable_pg.url, min_size=2, max_size=4)
    g = f"AWLR-PGR-{uuid.uuid4().hex[:6]}"
    await register(pool, "flood_gauge", [g])
    config = AlertConfig(
        flood_stations={g: FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10)},
        rise_cm_per_h=10_000,
        # every loop busy on the database, so the restarts catch them mid-query
        evaluate_every_s=0.02,
        registry_refresh_s=0.02,
        refresh_rollups_every_s=0.02,
    )
    minute = 120.0

    async def send(level: float) -> None:
        nonlocal minute
        minute -= 0.01
        await publish(settings, "flood_gauge", g, [{"ts": ago(minute), "water_level": level}])

    try:
        async with (
            running_ingest(settings, pool, kinds),
            running_operations(settings, pool, kinds, config),
        ):
            loops = live_loops()
            assert loops == 4  # events, timer, registry, rollups
            for _ in range(8):
                await send(50)
                await asyncio.sleep(random.uniform(0.05, 0.4))
                await asyncio.to_thread(restartable_pg.server.stop, "immediate")
                await asyncio.sleep(random.uniform(0.0, 0.5))
                await asyncio.to_thread(restartable_pg.server.start)

            # The gauge goes on reporting above WASPADA, as it would every minute; a batch
            # committed while alerts was reconnecting its LISTEN is not replayed, the next is.
            async def opened() -> list[str]:
                await send(150)
                try:
                    found = await list_alerts(pool, device_id=g, rule="flood_level")
                except (asyncpg.InterfaceError, OSError):
                    return []
                return [a.details["level"] for a in found if a.status == "open"]

            assert await eventually(opened, lambda a: a == ["WASPADA"], within=30)
            assert live_loops() == loops, "a loop ended while the service runs on"
    finally:
        restartable_pg.ensure_running()
        await pool.close()


async def test_a_loop_that_cannot_go_on_ends_the_service_so_its_supervisor_restarts_it(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    service = OperationsService(
        settings.database_url, pool, kinds, AlertConfig(evaluate_every_s=0.05), notifiers=[]
    )

    async def broken_tick() -> None:
        raise ValueError("a bug in a rule")

    service.evaluator.tick = broken_tick  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        with pytest.raises(LoopStoppedError) as raised:
            await asyncio.wait_for(asyncio.shield(task), 10)
        assert isinstance(raised.value.__cause__, ValueError)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
