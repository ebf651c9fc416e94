"""Rejected messages, kept with a reason an operator and a sender can act on.

One row per rejected message at most (its items' reasons summarised in ``reason``), and
of its payload only the first :data:`KEPT_PAYLOAD_BYTES`, with the whole payload's size
and SHA-256: storage grows with the number of bad messages, never with their size.
"""

from __future__ import annotations

import hashlib
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
    """The payload as received; stored cut to :data:`KEPT_PAYLOAD_BYTES` (read back: cut)."""
    payload_bytes: int | None = None
    """Size of the whole payload (read back from storage; ``len(payload)`` before)."""
    payload_sha256: bytes | None = None


KEPT_PAYLOAD_BYTES = 4096
MAX_REASON_CHARS = 2000
MAX_TOPIC_CHARS = 300


async def insert_dead_letters(conn: Conn, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    await conn.copy_records_to_table(
        "dead_letters",
        columns=[
            "received_at",
            "topic",
            "device_id",
            "code",
            "reason",
            "payload",
            "payload_bytes",
            "payload_sha256",
        ],
        records=[
            (
                d.received_at,
                d.topic[:MAX_TOPIC_CHARS],
                d.device_id,
                d.code,
                d.reason[:MAX_REASON_CHARS],
                d.payload[:KEPT_PAYLOAD_BYTES],
                len(d.payload),
                hashlib.sha256(d.payload).digest(),
            )
            for d in letters
        ],
    )


async def list_dead_letters(
    pool: asyncpg.Pool, *, device_id: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    rows = await pool.fetch(
        "SELECT received_at, topic, device_id, code, reason, payload, payload_bytes,"
        " payload_sha256 FROM dead_letters "
        "WHERE ($1::text IS NULL OR device_id = $1) ORDER BY id DESC LIMIT $2",
        device_id,
        limit,
    )
    return [DeadLetter(**dict(r.items())) for r in rows]


@dataclass(frozen=True, slots=True)
class UnregisteredPublisher:
    """A device id that publishes but is not in the registry: a candidate to register."""

    device_id: str
    kinds: list[str]
    messages: int
    first_seen: datetime
    last_seen: datetime
    last_topic: str


async def unregistered_publishers(
    pool: asyncpg.Pool, limit: int = 100
) -> list[UnregisteredPublisher]:
    """Device ids dead-lettered as unknown (and still unregistered), most recent first."""
    rows = await pool.fetch(
        """
        SELECT d.device_id,
               array_agg(DISTINCT split_part(d.topic, '/', -3)) AS kinds,
               count(*) AS messages,
               min(d.received_at) AS first_seen,
               max(d.received_at) AS last_seen,
               (array_agg(d.topic ORDER BY d.received_at DESC))[1] AS last_topic
        FROM dead_letters d
        WHERE d.code = 'unknown_device' AND d.device_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM devices v WHERE v.id = d.device_id)
        GROUP BY d.device_id
        ORDER BY max(d.received_at) DESC, d.device_id
        LIMIT $1
        """,
        limit,
    )
    return [
        UnregisteredPublisher(
            device_id=r["device_id"],
            kinds=sorted(r["kinds"]),
            messages=int(r["messages"]),
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            last_topic=r["last_topic"],
        )
        for r in rows
    ]
