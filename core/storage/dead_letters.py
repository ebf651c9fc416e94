"""Rejected messages, kept verbatim with a reason an operator and a sender can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: datetime
    topic: str
    device_id: str | None
    code: str
    reason: str
    payload: bytes


async def insert_dead_letters(conn: Conn, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    await conn.copy_records_to_table(
        "dead_letters",
        columns=["received_at", "topic", "device_id", "code", "reason", "payload"],
        records=[
            (d.received_at, d.topic, d.device_id, d.code, d.reason, d.payload) for d in letters
        ],
    )


async def list_dead_letters(
    pool: asyncpg.Pool, *, device_id: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    rows = await pool.fetch(
        "SELECT received_at, topic, device_id, code, reason, payload FROM dead_letters "
        "WHERE ($1::text IS NULL OR device_id = $1) ORDER BY id DESC LIMIT $2",
        device_id,
        limit,
    )
    return [DeadLetter(**dict(r.items())) for r in rows]
