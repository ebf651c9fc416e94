"""Device rows as ingest and the API need them (the registry issue extends this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    kind: str
    name: str
    status: str
    district: str | None
    latitude: float | None
    longitude: float | None


_COLUMNS = "id, kind, name, status, district, latitude, longitude"


def _row(r: asyncpg.Record) -> DeviceRow:
    return DeviceRow(**dict(r.items()))


async def upsert_devices(pool: asyncpg.Pool, devices: Sequence[DeviceRow]) -> None:
    """Register devices, or refresh their details; used by simulators and fixtures."""
    await pool.executemany(
        f"INSERT INTO devices ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, "
        "status = EXCLUDED.status, district = EXCLUDED.district, "
        "latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, updated_at = now()",
        [(d.id, d.kind, d.name, d.status, d.district, d.latitude, d.longitude) for d in devices],
    )


async def get_device(pool: asyncpg.Pool, device_id: str) -> DeviceRow | None:
    r = await pool.fetchrow(f"SELECT {_COLUMNS} FROM devices WHERE id = $1", device_id)
    return None if r is None else _row(r)


async def devices_by_id(
    conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[str]
) -> dict[str, DeviceRow]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM devices WHERE id = ANY($1::text[])", ids)
    return {r["id"]: _row(r) for r in rows}
