"""Reading dead letters for operators: filtered, paginated by id, bounded in bytes.

A payload leaves storage only as a preview of at most ``PREVIEW_BYTES`` (with its full size),
so a page of refusals is bounded however large the refused messages were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

PREVIEW_BYTES = 256


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    code: str
    reason: str
    payload_preview: bytes
    payload_bytes: int


@dataclass(frozen=True, slots=True)
class NewestRefusal:
    """A device's newest refused message and how many it has had in the window."""

    device_id: str | None
    received_at: datetime
    topic: str
    code: str
    reason: str
    count: int


async def refused_messages(
    pool: asyncpg.Pool,
    *,
    device_id: str | None = None,
    code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[RefusedMessage]:
    """Newest first; pass the last id seen as ``before_id`` for the next page."""
    rows = await pool.fetch(
        "SELECT id, received_at, topic, device_id, code, reason,"
        " substring(payload FROM 1 FOR $7) AS payload_preview,"
        " coalesce(payload_bytes, octet_length(payload)) AS payload_bytes FROM dead_letters"
        " WHERE ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR code = $2)"
        " AND ($3::timestamptz IS NULL OR received_at >= $3)"
        " AND ($4::timestamptz IS NULL OR received_at < $4)"
        " AND ($5::bigint IS NULL OR id < $5)"
        " ORDER BY id DESC LIMIT $6",
        device_id,
        code,
        since,
        until,
        before_id,
        limit,
        PREVIEW_BYTES,
    )
    return [RefusedMessage(**dict(r.items())) for r in rows]


async def newest_refusal_per_device(
    pool: asyncpg.Pool, *, since: datetime, limit: int = 20
) -> list[NewestRefusal]:
    """Per device (unknown senders as one row each), its newest refusal since ``since``,
    the devices with the most recent refusal first."""
    rows = await pool.fetch(
        """
        SELECT DISTINCT ON (device_id) device_id, received_at, topic, code, reason,
               count(*) OVER (PARTITION BY device_id) AS count
        FROM dead_letters WHERE received_at >= $1
        ORDER BY device_id, id DESC
        """,
        since,
    )
    found = sorted(
        (NewestRefusal(**dict(r.items())) for r in rows), key=lambda x: x.received_at, reverse=True
    )
    return found[:limit]
