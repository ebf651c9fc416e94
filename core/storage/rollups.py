"""Hourly rollups of numeric fields, kept current incrementally on plain PostgreSQL.

Each readings batch marks the (kind, device, hour) buckets it touched in ``rollup_dirty``
(inside the batch's transaction, so late data is never missed). :func:`refresh_rollups`
recomputes those buckets from the raw table. Queries read the rollup for clean buckets and
aggregate the raw rows of dirty ones, so answers are exact even before a refresh. On
TimescaleDB the same table names are continuous aggregates (see ``timescale.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.kinds import DeviceKind, FieldType, KindRegistry, TelemetryField

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


async def refresh_rollups(
    pool: asyncpg.Pool, kinds: KindRegistry, *, limit: int = 5000
) -> RefreshResult:
    """Recompute up to ``limit`` dirty buckets in one transaction (a crash leaves them dirty)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "DELETE FROM rollup_dirty WHERE (kind, device_id, bucket) IN ("
            " SELECT kind, device_id, bucket FROM rollup_dirty"
            " ORDER BY kind, device_id, bucket LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING kind, device_id, bucket",
            limit,
        )
        by_kind: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        for r in rows:
            by_kind[r["kind"]].append((r["device_id"], r["bucket"]))
        for name, pairs in by_kind.items():
            kind = kinds.get(name)
            if kind is None or not numeric_fields(kind):
                continue
            relkind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", rollup_table(kind)
            )
            if relkind != "r":  # absent, or a TimescaleDB continuous aggregate: nothing to do
                continue
            await conn.execute(_refresh_sql(kind), [p[0] for p in pairs], [p[1] for p in pairs])
    return RefreshResult(buckets=len(rows))


async def dirty_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM rollup_dirty"))
