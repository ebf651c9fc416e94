"""What the alert rules read: windows of recent readings and the liveness of every device."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from core.kinds import DeviceKind


@dataclass(frozen=True, slots=True)
class RiseWindow:
    device_id: str
    first_time: datetime
    first_level: float
    last_time: datetime
    last_level: float


async def rise_windows(
    pool: asyncpg.Pool, newest: Mapping[str, datetime], window: timedelta
) -> list[RiseWindow]:
    """Per gauge: its first and newest water level within ``window`` before ``newest[id]``.

    The newest times come from the batch, so each gauge costs two index probes.
    """
    if not newest:
        return []
    ids = sorted(newest)
    rows = await _fetch_custom(
        pool, RISE_SQL, ids, [newest[d] for d in ids], window, *_span(newest, window)
    )
    return [RiseWindow(**dict(r.items())) for r in rows]


async def _fetch_custom(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    """Planned with this batch's bounds each time. A generic plan (PostgreSQL's choice after
    five runs of a prepared statement) would hold every chunk of the hypertable: building it
    took 420 ms with 424 chunks, and it only excludes them again at run time."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return list(await conn.fetch(sql, *args))


def _span(newest: Mapping[str, datetime], window: timedelta) -> tuple[datetime, datetime]:
    """The whole batch's time span: a bound the planner (and TimescaleDB's chunk exclusion)
    can use, where each device's own bound comes from a lateral row and can exclude nothing.
    Without it every per-device probe looked into every chunk of the hypertable."""
    return min(newest.values()) - window, max(newest.values())


RISE_SQL = """
SELECT n.device_id, f.time AS first_time, f.water_level AS first_level,
       l.time AS last_time, l.water_level AS last_level
FROM unnest($1::text[], $2::timestamptz[]) AS n(device_id, t)
CROSS JOIN LATERAL (SELECT time, water_level FROM readings_flood_gauge r
    WHERE r.device_id = n.device_id AND r.time >= n.t - $3::interval AND r.time <= n.t
      AND r.time >= $4::timestamptz AND r.time <= $5::timestamptz
      AND r.water_level IS NOT NULL ORDER BY time LIMIT 1) f
CROSS JOIN LATERAL (SELECT time, water_level FROM readings_flood_gauge r
    WHERE r.device_id = n.device_id AND r.time <= n.t AND r.time >= n.t - $3::interval
      AND r.time >= $4::timestamptz AND r.time <= $5::timestamptz
      AND r.water_level IS NOT NULL ORDER BY time DESC LIMIT 1) l
"""


@dataclass(frozen=True, slots=True)
class NodeWindow:
    device_id: str
    samples: int
    avg: float | None
    min: float | None


NODE_FIELDS = ("latency", "packet_loss")


async def node_windows(
    pool: asyncpg.Pool, newest: Mapping[str, datetime], windows: Mapping[str, timedelta]
) -> dict[str, list[NodeWindow]]:
    """Per field of ``windows`` and per node: count/avg/min of the field within its window
    before ``newest[id]`` (nodes without a sample of that field left out).

    One lateral subquery per node reads the longest window once for every field, so the
    plan stays one index range scan per node however long the history grows (a hash join
    over the whole table looked cheaper to the planner).
    """
    fields = list(windows)
    out: dict[str, list[NodeWindow]] = {f: [] for f in fields}
    if not newest or not fields:
        return out
    ids = sorted(newest)
    longest = max(windows.values())
    rows = await _fetch_custom(
        pool,
        node_sql(fields),
        ids,
        [newest[d] for d in ids],
        longest,
        *_span(newest, longest),
        *(windows[f] for f in fields),
    )
    for r in rows:
        for f in fields:
            if r[f"{f}_samples"] > 0:
                out[f].append(
                    NodeWindow(r["device_id"], r[f"{f}_samples"], r[f"{f}_avg"], r[f"{f}_min"])
                )
    return out


def node_sql(fields: Sequence[str]) -> str:
    """$1 node ids, $2 their newest times, $3 the longest window, $4/$5 the batch's span (see
    _span), then each field's own window ($6, $7, ... in ``fields`` order)."""
    bad = [f for f in fields if f not in NODE_FIELDS]
    if bad or not fields:
        raise ValueError(fields)
    cols = []
    for i, f in enumerate(fields):
        inside = f"r.time > n.t - ${6 + i}::interval"
        cols += [
            f'count(r."{f}") FILTER (WHERE {inside}) AS "{f}_samples"',
            f'(avg(r."{f}") FILTER (WHERE {inside}))::float8 AS "{f}_avg"',
            f'(min(r."{f}") FILTER (WHERE {inside}))::float8 AS "{f}_min"',
        ]
    return f"""
SELECT n.device_id, w.*
FROM unnest($1::text[], $2::timestamptz[]) AS n(device_id, t)
CROSS JOIN LATERAL (
    SELECT {", ".join(cols)}
    FROM readings_network_node r
    WHERE r.device_id = n.device_id AND r.time > n.t - $3::interval AND r.time <= n.t
      AND r.time >= $4::timestamptz AND r.time <= $5::timestamptz
) w
"""


@dataclass(frozen=True, slots=True)
class Liveness:
    device_id: str
    kind: str
    name: str
    received_at: datetime
    time: datetime
    values: dict[str, object]
    batch: str | None = None
    """The registry batch (``simulate:<PREFIX>`` marks a simulated device)."""


async def liveness(pool: asyncpg.Pool, kind: str | None = None) -> list[Liveness]:
    """Every active device that has ever reported, with when it last did."""
    rows = await pool.fetch(
        "SELECT d.id AS device_id, d.kind, d.name, ls.received_at, ls.time, d.batch,"
        ' ls."values"::text AS vals FROM devices d JOIN latest_state ls ON ls.device_id = d.id'
        " WHERE d.status = 'active' AND ($1::text IS NULL OR d.kind = $1) ORDER BY d.id",
        kind,
    )
    return [
        Liveness(
            device_id=r["device_id"],
            kind=r["kind"],
            name=r["name"],
            received_at=r["received_at"],
            time=r["time"],
            values=json.loads(r["vals"]),
            batch=r["batch"],
        )
        for r in rows
    ]


async def device_names(pool: asyncpg.Pool, device_ids: Sequence[str]) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT id, name FROM devices WHERE id = ANY($1::text[])", list(device_ids)
    )
    return {r["id"]: r["name"] or r["id"] for r in rows}


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """A device's readings stored by one batch (``received_at``) between two times."""

    device_id: str
    first: datetime
    last: datetime
    received_at: datetime


async def backlog_readings(
    pool: asyncpg.Pool, kind: DeviceKind, spans: Sequence[StoredSpan]
) -> list[dict[str, Any]]:
    """The readings of ``spans``, oldest first (then by device), as
    :func:`core.storage.events.reading_items` gives them, with only the kind's
    ``judged_per_reading`` fields in their values (a NULL one left out). A reading of the span
    that an earlier batch had stored already (a resend) is not in it: it was judged then."""
    if not spans or not kind.judged_per_reading:
        return []
    fields = list(kind.judged_per_reading)
    cols = ", ".join(f'r."{f}"' for f in fields)
    rows = await _fetch_custom(
        pool,
        f"SELECT s.d AS device_id, r.time, s.ra AS received_at, {cols}"
        " FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])"
        "   AS s(d, lo, hi, ra)"
        f" CROSS JOIN LATERAL (SELECT time, {cols} FROM {kind.table} r"
        "   WHERE r.device_id = s.d AND r.time >= s.lo AND r.time <= s.hi"
        "     AND r.time >= $5::timestamptz AND r.time <= $6::timestamptz"
        "     AND r.received_at = s.ra) r"
        " ORDER BY r.time, s.d",
        [s.device_id for s in spans],
        [s.first for s in spans],
        [s.last for s in spans],
        [s.received_at for s in spans],
        min(s.first for s in spans),
        max(s.last for s in spans),
    )
    return [
        {
            "device_id": r["device_id"],
            "kind": kind.name,
            "time": r["time"].isoformat(),
            "received_at": r["received_at"].isoformat(),
            "values": {f: r[f] for f in fields if r[f] is not None},
        }
        for r in rows
    ]
