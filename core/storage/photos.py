"""Device photos: bounded images (see ``device_photos`` in migration 0014) with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn

MAX_BYTES = 2 * 1024 * 1024
CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    id: int
    device_id: str
    taken_at: datetime
    actor: str
    content_type: str
    size: int


async def insert_photo(
    conn: Conn, device_id: str, *, actor: str, content_type: str, data: bytes
) -> int:
    photo_id = await conn.fetchval(
        "INSERT INTO device_photos (device_id, actor, content_type, data)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        device_id,
        actor,
        content_type,
        data,
    )
    return int(photo_id)


async def list_photos(pool: asyncpg.Pool, device_id: str) -> list[PhotoInfo]:
    rows = await pool.fetch(
        "SELECT id, device_id, taken_at, actor, content_type, octet_length(data) AS size"
        " FROM device_photos WHERE device_id = $1 ORDER BY id DESC LIMIT 100",
        device_id,
    )
    return [PhotoInfo(**dict(r.items())) for r in rows]


async def get_photo(pool: asyncpg.Pool, device_id: str, photo_id: int) -> tuple[str, bytes] | None:
    row = await pool.fetchrow(
        "SELECT content_type, data FROM device_photos WHERE device_id = $1 AND id = $2",
        device_id,
        photo_id,
    )
    return None if row is None else (row["content_type"], bytes(row["data"]))
