"""Every Grafana panel's SQL runs, as the read-only role, against a database with data in it.

Grafana's macros and variables are expanded by dashboards.macros exactly as the data source
would, for a short range (raw readings) and a long one (hourly rollups), and each result must
have the columns, in order and of the types, that its panel reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.vocabulary import FloodLevel, Rule
from core.kinds import KindRegistry
from core.storage.alerts import set_level
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.flood_thresholds import FloodBands, set_flood_bands
from core.storage.rollups import refresh_rollups
from core.wire import Reading
from dashboards.boards.common import Board
from dashboards.generate import boards, queries
from dashboards.i18n import LANGS
from dashboards.macros import QueryContext, VarValue
from dashboards.query import ColumnType, SqlQuery
from tests.support.operations import open_alert

pytestmark = pytest.mark.anyio

TYPES: dict[ColumnType, set[str]] = {
    "time": {"timestamptz", "float8", "numeric"},  # $__timeGroup yields epoch seconds
    "number": {"int2", "int4", "int8", "float4", "float8", "numeric"},
    "text": {"text", "varchar", "name"},
    "bool": {"bool"},
}

NOW = datetime.now(UTC).replace(microsecond=0)


def _reading(kind: str, device: str, at: datetime, i: int) -> Reading:
    values: dict[str, float | int | str | bool]
    if kind == "flood_gauge":
        values = {"water_level": 150.0 + 3 * i, "rain": 1.5, "battery_v": 12.8, "rssi": -80}
    elif kind == "streetlight":
        values = {
            "power_state": "on",
            "active_power": 60.0,
            "energy": 1000.0 + i * 0.1,
            "lamp_failure": device.endswith("-0"),
        }
    else:
        values = {"uptime": 3600 + 300 * i, "latency": 40.0 + i % 7, "packet_loss": 0.5}
    return Reading(device_id=device, kind=kind, time=at, values=values)


async def _seed(pool: asyncpg.Pool, kinds: KindRegistry, uid: str) -> dict[str, list[str]]:
    """Devices of every kind in one district, readings now and eight days ago, an alert."""
    district = f"Uji-{uid}"
    ids = {k: [f"{k[:5].upper()}-{uid}-{i}" for i in range(3)] for k in kinds}
    await upsert_devices(
        pool,
        [
            DeviceRow(d, k, f"{k} {i}", "active", district, -3.7 + i / 100, 103.8 + i / 100)
            for k, devs in ids.items()
            for i, d in enumerate(devs)
        ],
    )
    await set_flood_bands(pool, [FloodBands(d, 200, 300, 400) for d in ids["flood_gauge"]])
    readings = [
        _reading(k, d, start - timedelta(minutes=5 * i), i)
        for k, devs in ids.items()
        for d in devs
        for start in (NOW, NOW - timedelta(days=8))
        for i in range(36)
    ]
    await write_batch(pool, kinds, readings, [], NOW)
    while (await refresh_rollups(pool, kinds)).buckets:
        pass
    gauge = ids["flood_gauge"][0]
    await set_level(pool, gauge, "SIAGA")
    await open_alert(
        pool, Rule.FLOOD_LEVEL, gauge, device_id=gauge, level=FloodLevel.SIAGA, message="SIAGA"
    )
    return ids


async def _shape(conn: asyncpg.Connection, sql: str) -> list[tuple[str, str]]:
    stmt = await conn.prepare(sql)
    return [(a.name, a.type.name) for a in stmt.get_attributes()]


async def _run(
    pool: asyncpg.Pool, q: SqlQuery, contexts: Sequence[QueryContext], where: str
) -> int:
    """Run the query in every context as citysense_grafana; return the most rows seen."""
    most = 0
    async with pool.acquire() as conn:
        for ctx in contexts:
            sql = ctx.expand(q.sql)
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE citysense_grafana")
                shape = await _shape(conn, sql)
                rows = await conn.fetch(sql)
            assert [n for n, _ in shape] == [c.name for c in q.columns], where
            for (name, pg_type), col in zip(shape, q.columns, strict=True):
                assert pg_type in TYPES[col.type], f"{where}: {name} is {pg_type}, not {col.type}"
            most = max(most, len(rows))
    return most


def _contexts(variables: Sequence[Mapping[str, VarValue]]) -> list[QueryContext]:
    ranges = [
        (timedelta(hours=6), timedelta(minutes=1)),  # raw readings
        (timedelta(days=30), timedelta(hours=1)),  # hourly rollups
    ]
    return [
        QueryContext(NOW - span, NOW + timedelta(minutes=1), step, v)
        for span, step in ranges
        for v in variables
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_every_panel_query_returns_rows_of_its_shape(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, lang: str
) -> None:
    ids = await _seed(pool, kinds, uid)
    district = [f"Uji-{uid}"]
    per_board: dict[str, list[dict[str, VarValue]]] = {
        "device": [{"device": devs[0]} for devs in ids.values()],
        "flood": [{"district": district, "gauge": ids["flood_gauge"][0]}],
    }
    checked = 0
    all_boards: list[Board] = boards(kinds, lang)  # type: ignore[arg-type]
    for board in all_boards:
        variables = per_board.get(board.slug, [{"district": district}])
        for panel, q in queries(board):
            where = f"{lang}/{board.slug}: {panel.title!r} {q.ref_id}"
            # Every range must work; the short one must return rows for every panel.
            assert await _run(pool, q, _contexts(variables), where) > 0, f"{where}: no rows"
            short = [c for c in _contexts(variables) if c.interval < timedelta(hours=1)]
            assert await _run(pool, q, short, where) > 0, f"{where}: no rows (raw)"
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("lang", LANGS)
async def test_variable_queries_list_the_choices(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, lang: str
) -> None:
    ids = await _seed(pool, kinds, uid)
    ctx = QueryContext(NOW - timedelta(hours=1), NOW, variables={"district": [f"Uji-{uid}"]})
    for board in boards(kinds, lang):  # type: ignore[arg-type]
        for var in board.variables:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL ROLE citysense_grafana")
                rows = await conn.fetch(ctx.expand(var.sql))
            values = {r[0] for r in rows}
            expected = {
                "district": {f"Uji-{uid}"},
                "device": set(ids["streetlight"]),
                "gauge": set(ids["flood_gauge"]),
            }[var.name]
            assert expected <= values, f"{board.slug}.${var.name}"


async def test_long_ranges_read_the_rollups_not_the_raw_readings(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, storage_path: str
) -> None:
    """Plain PostgreSQL: the month plan reads the rollup table only. TimescaleDB: the rollup
    is a real-time continuous aggregate, so once materialised the month plan reads its
    materialised hypertable, plus the raw table only for the hours after the watermark."""
    ids = await _seed(pool, kinds, uid)
    (flood,) = [b for b in boards(kinds, "id") if b.slug == "flood"]
    (panel, q), *_ = queries(flood)
    variables: dict[str, VarValue] = {"district": [f"Uji-{uid}"]}
    month = QueryContext(NOW - timedelta(days=30), NOW, timedelta(hours=1), variables)
    hours = QueryContext(NOW - timedelta(hours=6), NOW, timedelta(minutes=1), variables)
    async with pool.acquire() as conn:
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN ANALYZE " + month.expand(q.sql)))
        old = await conn.fetch(month.expand(q.sql))
        recent_plan = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN ANALYZE " + hours.expand(q.sql))
        )
    # The guard on $__interval is a constant: the planner drops the other branch entirely.
    if storage_path == "timescaledb":
        assert "_materialized_hypertable_" in plan, plan
        assert "_materialized_hypertable_" not in recent_plan, recent_plan
    else:
        assert "rollup_flood_gauge_1h" in plan, plan
        assert "readings_flood_gauge" not in plan, plan
        assert "rollup_flood_gauge_1h" not in recent_plan, recent_plan
    # TimescaleDB names a lone chunk left by plan-time exclusion instead of its hypertable
    # (the window's readings all in one day's chunk: most hours of a UTC day).
    raw = ["readings_flood_gauge"]
    if storage_path == "timescaledb":
        chunks = await pool.fetch("SELECT show_chunks('readings_flood_gauge')::text AS c")
        raw += [r["c"].rsplit(".", 1)[-1] for r in chunks]
    assert any(name in recent_plan for name in raw), recent_plan
    # Eight-day-old readings come back, hourly, from the rollup.
    stations = {r["metric"] for r in old if r["time"] < (NOW - timedelta(days=7)).timestamp()}
    assert {"flood_gauge 0", "flood_gauge 1", "flood_gauge 2"} <= stations, panel.title
    assert ids
