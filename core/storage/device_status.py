"""Device online/offline, from the retained status topic (birth message and last will)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn


@dataclass(frozen=True, slots=True)
class StatusChange:
    device_id: str
    kind: str
    online: bool
    changed_at: datetime


_UPSERT = """
INSERT INTO device_status (device_id, kind, online, changed_at, received_at)
SELECT u.d, u.k, u.o, u.t, $5::timestamptz
FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[]) AS u(d, k, o, t)
ON CONFLICT (device_id) DO UPDATE SET
    kind = EXCLUDED.kind,
    online = EXCLUDED.online,
    changed_at = CASE WHEN device_status.online = EXCLUDED.online
                      THEN device_status.changed_at ELSE EXCLUDED.changed_at END,
    received_at = EXCLUDED.received_at
"""


async def record_statuses(
    conn: Conn, changes: Sequence[StatusChange], received_at: datetime
) -> None:
    """Store each device's last announced status (the last one in arrival order wins)."""
    last: dict[str, StatusChange] = {}
    for c in changes:
        last[c.device_id] = c
    if not last:
        return
    ids = sorted(last)  # fixed lock order, as for latest_state
    await conn.execute(
        _UPSERT,
        ids,
        [last[d].kind for d in ids],
        [last[d].online for d in ids],
        [last[d].changed_at for d in ids],
        received_at,
    )


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    kind: str
    online: bool
    changed_at: datetime
    received_at: datetime


async def device_statuses(pool: asyncpg.Pool, ids: Sequence[str]) -> dict[str, DeviceStatus]:
    rows = await pool.fetch(
        "SELECT device_id, kind, online, changed_at, received_at FROM device_status"
        " WHERE device_id = ANY($1::text[])",
        list(ids),
    )
    return {r["device_id"]: DeviceStatus(**dict(r.items())) for r in rows}
