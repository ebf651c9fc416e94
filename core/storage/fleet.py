"""The registry's device list as the operations page follows it: id, kind and status."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    kind: str
    status: str


async def device_statuses(pool: asyncpg.Pool) -> dict[str, DeviceStatus]:
    """Every registered device (decommissioned included) by id."""
    rows = await pool.fetch("SELECT id, kind, status FROM devices")
    return {r["id"]: DeviceStatus(r["id"], r["kind"], r["status"]) for r in rows}
