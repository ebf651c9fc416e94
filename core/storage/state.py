"""Latest state of every device, with liveness: JSON fragments rendered by PostgreSQL for
the API's state cache, and brief rows for the summary.

``online``: something arrived within the kind's interval times the offline factor;
``stale``: the newest *device* time is older than that (a device catching up on a backlog
is online but stale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

DEFAULT_OFFLINE_FACTOR = 3.0
LIVENESS = ("online", "offline", "stale")


@dataclass(frozen=True, slots=True)
class StateFilter:
    kind: str | None = None
    district: str | None = None
    status: str | None = None
    """A registry status (active, maintenance, ...) or a liveness (online, offline, stale)."""
    device_ids: tuple[str, ...] | None = None


_CORE = """
SELECT d.id AS device_id, ls."values" AS vals, fl.level, x.online, x.stale, d.kind,
       d.district
FROM devices d
LEFT JOIN latest_state ls ON ls.device_id = d.id
LEFT JOIN flood_levels fl ON fl.device_id = d.id
LEFT JOIN unnest($1::text[], $2::float8[]) AS k(kind, limit_s) ON k.kind = d.kind
CROSS JOIN LATERAL (SELECT
    coalesce(ls.received_at > now() - make_interval(secs => coalesce(k.limit_s, 900)), false)
        AS online,
    coalesce(ls.time < now() - make_interval(secs => coalesce(k.limit_s, 900)), true)
        AS stale) x
WHERE ($3::text IS NULL OR d.kind = $3)
  AND ($4::text IS NULL OR d.district = $4)
  AND (CASE $5::text
         WHEN 'online' THEN x.online
         WHEN 'offline' THEN NOT x.online
         WHEN 'stale' THEN x.stale
         ELSE coalesce(d.status = $5, d.status <> 'decommissioned') END)
  AND ($6::text[] IS NULL OR d.id = ANY($6::text[]))
"""


def _args(limits: Mapping[str, float], f: StateFilter) -> list[object]:
    names = sorted(limits)
    return [
        names,
        [limits[n] for n in names],
        f.kind,
        f.district,
        f.status,
        list(f.device_ids) if f.device_ids is not None else None,
    ]


@dataclass(frozen=True, slots=True)
class StateBrief:
    """What the summary and the alert evaluator need of one device's state."""

    device_id: str
    kind: str
    district: str | None
    online: bool
    stale: bool
    level: str | None
    values: dict[str, object]


async def state_briefs(
    pool: asyncpg.Pool, limits: Mapping[str, float], f: StateFilter
) -> list[StateBrief]:
    import json

    rows = await pool.fetch(
        f"SELECT device_id, kind, district, online, stale, level, vals::text AS vals "
        f"FROM ({_CORE}) s ORDER BY device_id",
        *_args(limits, f),
    )
    return [
        StateBrief(
            device_id=r["device_id"],
            kind=r["kind"],
            district=r["district"],
            online=r["online"],
            stale=r["stale"],
            level=r["level"],
            values=json.loads(r["vals"]) if r["vals"] else {},
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Fragment:
    """One device's state rendered once as JSON, minus the time-dependent flags."""

    device_id: str
    kind: str
    district: str | None
    status: str
    received_at: datetime | None
    time: datetime | None
    body: str
    """The JSON object without its closing brace; ``online`` and ``stale`` are appended."""
    geometry: str


_FRAGMENTS = """
SELECT d.id AS device_id, d.kind, d.district, d.status, ls.received_at, ls.time,
       json_build_object(
         'device_id', d.id, 'kind', d.kind, 'name', d.name, 'district', d.district,
         'latitude', d.latitude, 'longitude', d.longitude, 'status', d.status,
         'time', ls.time, 'received_at', ls.received_at,
         'values', coalesce(ls."values", '{}'::jsonb), 'level', fl.level)::text AS body,
       CASE WHEN d.latitude IS NULL OR d.longitude IS NULL THEN 'null' ELSE
         json_build_object('type', 'Point',
           'coordinates', json_build_array(d.longitude, d.latitude))::text END AS geometry
FROM devices d
LEFT JOIN latest_state ls ON ls.device_id = d.id
LEFT JOIN flood_levels fl ON fl.device_id = d.id
WHERE $1::timestamptz IS NULL OR ls.received_at > $1 OR d.updated_at > $1 OR fl.changed_at > $1
"""


async def state_fragments(
    pool: asyncpg.Pool, changed_since: datetime | None
) -> tuple[datetime, list[Fragment]]:
    """Every device (or those changed since a moment) as JSON fragments, and the DB's now."""
    async with pool.acquire() as conn, conn.transaction():
        at = await conn.fetchval("SELECT now()")
        rows = await conn.fetch(_FRAGMENTS, changed_since)
    frags = []
    for r in rows:
        body = r["body"]
        frags.append(
            Fragment(
                device_id=r["device_id"],
                kind=r["kind"],
                district=r["district"],
                status=r["status"],
                received_at=r["received_at"],
                time=r["time"],
                body=body[: body.rindex("}")],
                geometry=r["geometry"],
            )
        )
    return at, frags
