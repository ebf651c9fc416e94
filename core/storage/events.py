"""What a committed batch tells the rest of the system: rollup buckets to refresh and a
``NOTIFY`` per batch for the live stream and the alert evaluator.

Called once inside ``write_batch``'s transaction: the dirty marks commit with the readings,
and PostgreSQL delivers the notifications at commit, in commit order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from core.wire import Reading

if TYPE_CHECKING:
    from core.storage.pool import Conn

CHANNEL = "citysense_events"
MAX_PAYLOAD = 7000
"""Bytes per notification; PostgreSQL's limit is 8000, so batches are chunked below it."""


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def reading_items(readings: Sequence[Reading], received_at: datetime) -> list[dict[str, Any]]:
    """One item per reading, oldest first: what the live stream and the evaluator consume."""
    ra = received_at.isoformat()
    return [
        {
            "device_id": r.device_id,
            "kind": r.kind,
            "time": r.time.isoformat(),
            "received_at": ra,
            "values": r.values,
        }
        for r in sorted(readings, key=lambda r: (r.time, r.device_id))
    ]


def chunk_payloads(kind: str, items: Sequence[dict[str, Any]]) -> list[str]:
    """JSON payloads ``{"type": kind, "items": [...]}``, each under :data:`MAX_PAYLOAD` bytes."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for it in items:
        enc = json.dumps(it, separators=(",", ":"), default=str)
        if current and size + len(enc.encode()) + 40 > MAX_PAYLOAD:
            out.append(f'{{"type":"{kind}","items":[{",".join(current)}]}}')
            current, size = [], 0
        current.append(enc)
        size += len(enc.encode()) + 1
    if current:
        out.append(f'{{"type":"{kind}","items":[{",".join(current)}]}}')
    return out


async def notify(conn: Conn, payloads: Sequence[str]) -> None:
    for p in payloads:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, p)


async def publish_batch(conn: Conn, readings: Sequence[Reading], received_at: datetime) -> None:
    """Mark touched rollup hours dirty and announce the batch; runs in the batch transaction."""
    if not readings:
        return
    dirty = sorted({(r.kind, r.device_id, _hour(r.time)) for r in readings})
    await conn.execute(
        "INSERT INTO rollup_dirty (kind, device_id, bucket) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
        [d[0] for d in dirty],
        [d[1] for d in dirty],
        [d[2] for d in dirty],
    )
    await notify(conn, chunk_payloads("readings", reading_items(readings, received_at)))


async def announce(pool: asyncpg.Pool, kind: str, items: Sequence[dict[str, Any]]) -> None:
    """Announce alert or state changes (``kind`` = "alert" or "state") to live listeners."""
    payloads = chunk_payloads(kind, items)
    if payloads:
        async with pool.acquire() as conn:
            await notify(conn, payloads)
