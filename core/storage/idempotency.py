"""Idempotency keys: a write sent again with the same key is answered from the first time.

A key is claimed (status 0, "in progress") before the write runs, in its own statement, so
two copies of one request cannot both run; the outcome is then stored, or the claim
released when the write failed on the server's side so that the retry runs it afresh.
Entries older than :data:`KEEP_DAYS` are dropped whenever a key is claimed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

KEEP_DAYS = 7
IN_PROGRESS = 0


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request: str
    status: int
    response: Any


async def claim(pool: asyncpg.Pool, *, actor: str, key: str, request: str) -> StoredResponse | None:
    """None when this call claimed the key (run the write); else what is stored for it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)",
            KEEP_DAYS,
        )
        row = await conn.fetchrow(
            "INSERT INTO idempotency_keys (actor, key, request, status, response)"
            " VALUES ($1, $2, $3, $4, 'null') ON CONFLICT (actor, key) DO NOTHING"
            " RETURNING key",
            actor,
            key,
            request,
            IN_PROGRESS,
        )
        if row is not None:
            return None
        found = await conn.fetchrow(
            "SELECT request, status, response::text AS response FROM idempotency_keys"
            " WHERE actor = $1 AND key = $2",
            actor,
            key,
        )
    assert found is not None
    return StoredResponse(found["request"], found["status"], json.loads(found["response"]))


async def complete(pool: asyncpg.Pool, *, actor: str, key: str, status: int, response: Any) -> None:
    await pool.execute(
        "UPDATE idempotency_keys SET status = $3, response = $4::jsonb"
        " WHERE actor = $1 AND key = $2",
        actor,
        key,
        status,
        json.dumps(response),
    )


async def release(pool: asyncpg.Pool, *, actor: str, key: str) -> None:
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2 AND status = $3",
        actor,
        key,
        IN_PROGRESS,
    )
