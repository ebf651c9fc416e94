"""Hourly rollups of numeric fields, kept current incrementally on plain PostgreSQL.

Each readings batch marks the (kind, device, hour) buckets it touched in ``rollup_dirty``
(inside the batch's transaction, so late data is never missed). :func:`refresh_rollups`
recomputes those buckets from the raw table. Queries read the rollup for clean buckets and
aggregate the raw rows of dirty ones, so answers are exact even before a refresh. On
TimescaleDB the same table names are continuous aggregates (see ``timescale.py``): there the
refresher refreshes the aggregate over the dirty hours before it clears their marks, so a
materialised hour is only trusted once it holds every reading (late ones too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from core.kinds import DeviceKind, FieldType, KindRegistry, TelemetryField

if TYPE_CHECKING:
    from core.storage.pool import Conn

AGGS = ("avg", "min", "max", "last", "count")
NUMERIC = (FieldType.FLOAT, FieldType.INT)


def numeric_fields(kind: DeviceKind) -> list[TelemetryField]:
    return [f for f in kind.fields if f.type in NUMERIC]


def rollup_table(kind: DeviceKind) -> str:
    return f"rollup_{kind.name}_1h"


def rollup_table_sql(kind: DeviceKind) -> str:
    """``CREATE TABLE`` of a kind's hourly rollup: count/sum/min/max/last per numeric field."""
    cols = "".join(
        f'    "{f.name}_n" bigint NOT NULL DEFAULT 0,\n'
        f'    "{f.name}_sum" double precision,\n'
        f'    "{f.name}_min" double precision,\n'
        f'    "{f.name}_max" double precision,\n'
        f'    "{f.name}_last" double precision,\n'
        for f in numeric_fields(kind)
    )
    return (
        f"-- hourly rollup of {kind.name}; generated from its declaration\n"
        f"CREATE TABLE IF NOT EXISTS {rollup_table(kind)} (\n"
        "    device_id text NOT NULL,\n"
        "    bucket timestamptz NOT NULL,\n"
        "    n bigint NOT NULL,\n"
        "    last_time timestamptz NOT NULL,\n"
        f"{cols}"
        "    PRIMARY KEY (device_id, bucket)\n"
        ");\n"
    )


def aggregate_columns_sql(
    kind: DeviceKind, alias: str = "r", fields: Sequence[str] | None = None
) -> str:
    """The SELECT list that turns raw rows into one rollup row (shared by refresh and query)."""
    parts = ["count(*) AS n", f"max({alias}.time) AS last_time"]
    for f in numeric_fields(kind):
        if fields is not None and f.name not in fields:
            continue
        c = f'{alias}."{f.name}"'
        parts += [
            f'count({c}) AS "{f.name}_n"',
            f'sum({c})::float8 AS "{f.name}_sum"',
            f'min({c})::float8 AS "{f.name}_min"',
            f'max({c})::float8 AS "{f.name}_max"',
            f"((array_agg({c} ORDER BY {alias}.time DESC) FILTER (WHERE {c} IS NOT NULL))[1])"
            f'::float8 AS "{f.name}_last"',
        ]
    return ", ".join(parts)


def _refresh_sql(kind: DeviceKind) -> str:
    names = ["n", "last_time"]
    for f in numeric_fields(kind):
        names += [f"{f.name}_{s}" for s in ("n", "sum", "min", "max", "last")]
    quoted = ", ".join(f'"{n}"' for n in names)
    updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names)
    return (
        f"INSERT INTO {rollup_table(kind)} (device_id, bucket, {quoted}) "
        f"SELECT r.device_id, d.bucket, {aggregate_columns_sql(kind)} "
        f"FROM unnest($1::text[], $2::timestamptz[]) AS d(device_id, bucket) "
        f"JOIN {kind.table} r ON r.device_id = d.device_id AND r.time >= d.bucket "
        "AND r.time < d.bucket + interval '1 hour' "
        f"GROUP BY r.device_id, d.bucket ON CONFLICT (device_id, bucket) DO UPDATE SET {updates}"
    )


@dataclass(frozen=True, slots=True)
class RefreshResult:
    buckets: int


_CLAIM = (
    "SELECT kind, device_id, bucket FROM rollup_dirty"
    " ORDER BY kind, device_id, bucket LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_CLEAR = (
    "DELETE FROM rollup_dirty WHERE (kind, device_id, bucket) IN"
    " (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]))"
)
# One aggregate refresher at a time (refresh_continuous_aggregate serialises anyway).
_AGGREGATE_REFRESH_LOCK = 0x526F6C6C  # "Roll"


async def _relkind(conn: Conn, table: str) -> str | None:
    value = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", table
    )
    return None if value is None else str(value)


async def _clear(conn: Conn, rows: Sequence[asyncpg.Record]) -> None:
    await conn.execute(
        _CLEAR,
        [r["kind"] for r in rows],
        [r["device_id"] for r in rows],
        [r["bucket"] for r in rows],
    )


async def _refresh_aggregates(conn: Conn, kinds: KindRegistry, limit: int) -> RefreshResult:
    """TimescaleDB: refresh each continuous aggregate over the span of its dirty hours, and
    only then clear those marks. Until then queries keep reading those hours from the raw
    rows. ``refresh_continuous_aggregate`` refuses a transaction block, so this runs in
    autocommit, one refresher at a time (a session advisory lock); it re-materialises only
    the hours TimescaleDB's own invalidation log names within the span."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _AGGREGATE_REFRESH_LOCK):
        return RefreshResult(buckets=0)  # another refresher is at it
    try:
        rows = await conn.fetch(_CLAIM.removesuffix(" FOR UPDATE SKIP LOCKED"), limit)
        spans: dict[str, tuple[datetime, datetime]] = {}
        for r in rows:
            lo, hi = spans.get(r["kind"], (r["bucket"], r["bucket"]))
            spans[r["kind"]] = (min(lo, r["bucket"]), max(hi, r["bucket"]))
        for name, (lo, hi) in spans.items():
            kind = kinds.get(name)
            if kind is None or not numeric_fields(kind):
                continue
            view = rollup_table(kind)
            if await _relkind(conn, view) != "v":
                continue
            end = hi + timedelta(hours=1)
            # simple query protocol: this procedure may not run as a prepared statement
            await conn.execute(
                f"CALL refresh_continuous_aggregate('{view}',"
                f" '{lo.isoformat()}'::timestamptz, '{end.isoformat()}'::timestamptz)"
            )
        await _clear(conn, rows)
        return RefreshResult(buckets=len(rows))
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _AGGREGATE_REFRESH_LOCK)


async def refresh_rollups(
    pool: asyncpg.Pool, kinds: KindRegistry, *, limit: int = 5000
) -> RefreshResult:
    """Bring up to ``limit`` dirty buckets up to date, then clear their marks (a crash leaves
    them dirty). Plain rollup tables are recomputed from the raw rows in one transaction;
    on TimescaleDB the continuous aggregates are refreshed first (see above)."""
    async with pool.acquire() as conn:
        path = await conn.fetchval("SELECT value FROM citysense_meta WHERE key = 'storage_path'")
        if path == "timescaledb":
            return await _refresh_aggregates(conn, kinds, limit)
        async with conn.transaction():
            rows = await conn.fetch(_CLAIM, limit)
            by_kind: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
            for r in rows:
                by_kind[r["kind"]].append((r["device_id"], r["bucket"]))
            for name, pairs in by_kind.items():
                kind = kinds.get(name)
                if kind is None or not numeric_fields(kind):
                    continue
                if await _relkind(conn, rollup_table(kind)) == "r":
                    await conn.execute(
                        _refresh_sql(kind), [p[0] for p in pairs], [p[1] for p in pairs]
                    )
            await _clear(conn, rows)
    return RefreshResult(buckets=len(rows))


async def dirty_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM rollup_dirty"))
