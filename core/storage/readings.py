"""Writing and reading telemetry. Writes are idempotent on (device_id, time)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from core.kinds import DeviceKind
from core.storage.ddl import ARRAY_TYPES
from core.wire import Reading, Value

if TYPE_CHECKING:
    from core.storage.pool import Conn


@dataclass(frozen=True, slots=True)
class StoredReading:
    time: datetime
    received_at: datetime
    values: dict[str, Value]


def _insert_sql(kind: DeviceKind) -> str:
    cols = ", ".join(f'"{f.name}"' for f in kind.fields)
    aliases = [f"c{i}" for i in range(len(kind.fields))]
    arrays = ", ".join(f"${i + 4}::{ARRAY_TYPES[f.type]}" for i, f in enumerate(kind.fields))
    return (
        f"INSERT INTO {kind.table} (device_id, time, received_at, {cols}) "
        f"SELECT u.d, u.t, $3::timestamptz, {', '.join('u.' + a for a in aliases)} "
        f"FROM unnest($1::text[], $2::timestamptz[], {arrays}) AS u(d, t, {', '.join(aliases)}) "
        "ON CONFLICT (device_id, time) DO NOTHING"
    )


_LATEST_SQL = """
INSERT INTO latest_state AS ls (device_id, kind, time, received_at, "values")
SELECT u.d, u.k, u.t, $4::timestamptz, u.v::jsonb
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $5::text[]) AS u(d, k, t, v)
ON CONFLICT (device_id) DO UPDATE SET
    received_at = GREATEST(ls.received_at, EXCLUDED.received_at),
    "values" = CASE WHEN EXCLUDED.time > ls.time THEN ls."values" || EXCLUDED."values"
                    ELSE ls."values" END,
    time = GREATEST(ls.time, EXCLUDED.time)
"""


async def insert_readings(
    conn: Conn,
    kind: DeviceKind,
    readings: Sequence[Reading],
    received_at: datetime,
) -> int:
    """Insert readings of one kind; returns how many were new (duplicates are skipped)."""
    if not readings:
        return 0
    args: list[Any] = [
        [r.device_id for r in readings],
        [r.time for r in readings],
        received_at,
    ]
    for f in kind.fields:
        args.append([r.values.get(f.name) for r in readings])
    status = await conn.execute(_insert_sql(kind), *args)
    return int(status.rsplit(" ", 1)[-1])


async def advance_latest_state(
    conn: Conn, readings: Sequence[Reading], received_at: datetime
) -> None:
    """Move each device's latest state forward; older readings never replace newer ones."""
    newest: dict[str, tuple[str, datetime, dict[str, Value]]] = {}
    for r in sorted(readings, key=lambda r: r.time):
        prev = newest.get(r.device_id)
        merged = {**prev[2], **r.values} if prev else dict(r.values)
        newest[r.device_id] = (r.kind, r.time, merged)
    if not newest:
        return
    ids = sorted(newest)  # a fixed lock order: concurrent workers never deadlock
    await conn.execute(
        _LATEST_SQL,
        ids,
        [newest[d][0] for d in ids],
        [newest[d][1] for d in ids],
        received_at,
        [json.dumps(newest[d][2]) for d in ids],
    )


async def fetch_readings(
    pool: asyncpg.Pool,
    kind: DeviceKind,
    device_id: str,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[StoredReading]:
    cols = ", ".join(f'"{f.name}"' for f in kind.fields)
    rows = await pool.fetch(
        f"SELECT time, received_at, {cols} FROM {kind.table} "
        "WHERE device_id = $1 AND time >= $2 AND time < $3 ORDER BY time LIMIT $4",
        device_id,
        start,
        end,
        limit,
    )
    names = [f.name for f in kind.fields]
    return [
        StoredReading(
            time=row["time"],
            received_at=row["received_at"],
            values={n: row[n] for n in names if row[n] is not None},
        )
        for row in rows
    ]


async def count_readings(pool: asyncpg.Pool, kind: DeviceKind) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {kind.table}"))
