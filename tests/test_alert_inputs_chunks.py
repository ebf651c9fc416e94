"""The alert rules' window queries cost the same however much history there is.

Each probe is bounded by the batch's own time span as well as by its device's window, so on
TimescaleDB only the chunks of that span are opened (with 400+ daily chunks, as a year and a
bit of history makes), and on plain PostgreSQL the primary key index is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.storage.alert_inputs import RISE_SQL, node_sql, node_windows, rise_windows
from core.storage.batches import write_batch
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import Reading
from tests.support.services import scratch_database

pytestmark = pytest.mark.anyio
DAYS = 420


@pytest.fixture
async def history(pg_server_url: str, kinds: KindRegistry) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own holding one reading a day for 420 days, then a recent hour."""
    with scratch_database(pg_server_url, "citysense_chunks") as url:
        migrate(url, retention_days=730)
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            now = datetime.now(UTC)
            old = [now - timedelta(days=d, hours=2) for d in range(1, DAYS + 1)]
            recent = [now - timedelta(minutes=m) for m in (40, 30, 20, 10)]
            readings = [Reading("G", "flood_gauge", t, {"water_level": 999.0}) for t in old]
            readings += [Reading("N", "network_node", t, {"latency": 999.0}) for t in old]
            for i, t in enumerate(recent, start=1):
                readings.append(Reading("G", "flood_gauge", t, {"water_level": float(i)}))
                readings.append(Reading("N", "network_node", t, {"latency": 10.0 * i}))
            await write_batch(pool, kinds, readings, [], now)
            yield pool
        finally:
            await pool.close()


async def _plan(pool: asyncpg.Pool, sql: str, args: list[object], mode: str) -> str:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        rows = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
    return "\n".join(r[0] for r in rows)


async def test_window_queries_open_only_the_batch_span_however_many_chunks_exist(
    history: asyncpg.Pool, storage_path: str
) -> None:
    pool = history
    now = datetime.now(UTC)
    newest = {"G": now - timedelta(minutes=10)}
    window = timedelta(hours=1)
    (rise,) = await rise_windows(pool, newest, window)
    assert (rise.first_level, rise.last_level) == (1.0, 4.0)
    nodes = await node_windows(
        pool,
        {"N": now - timedelta(minutes=10)},
        {"latency": window, "packet_loss": timedelta(minutes=5)},
    )
    (node,) = nodes["latency"]
    assert (node.samples, node.min) == (4, 10.0)
    # the readings 10 min before the newest sit outside a 5 min window; no loss was sent
    assert nodes["packet_loss"] == []

    span = (now - timedelta(minutes=10) - window, now - timedelta(minutes=10))
    args: list[object] = [["G"], [newest["G"]], window, *span]
    node_args = [*args, window]
    if storage_path == "timescaledb":
        chunks = await pool.fetchval("SELECT count(*) FROM show_chunks('readings_flood_gauge')")
        assert chunks >= DAYS
    for sql, sql_args in ((RISE_SQL, args), (node_sql(["latency"]), node_args)):
        for mode in ("force_custom_plan", "force_generic_plan"):
            plan = await _plan(pool, sql, sql_args, mode)
            if storage_path == "timescaledb":
                opened = {w for line in plan.splitlines() for w in line.split() if "_hyper_" in w}
                # the batch's hour lies in today's chunk, or yesterday's just after midnight
                assert 1 <= len(opened) <= 2, (mode, len(opened), plan[:2000])
            else:
                assert "_pkey" in plan, (mode, plan)
