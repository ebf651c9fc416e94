"""Technician enrolments: a short-lived, one-time code an admin hands over as a link or QR.

Redeeming the code creates a technician API key named after the technician (so every
journal entry made with it names them) in the same transaction that marks the code used:
a code works once, only before it expires, and never after it is revoked. Revoking an
enrolment also revokes the key it issued. Only a SHA-256 of the code is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from core.storage.api_keys import digest, new_key

CODE_BYTES = 24
ENROLLED_ROLE = "technician"


@dataclass(frozen=True, slots=True)
class Enrolment:
    id: int
    technician: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    api_key_id: int | None
    revoked_at: datetime | None


_COLS = "id, technician, created_by, created_at, expires_at, used_at, api_key_id, revoked_at"


async def create_enrolment(
    pool: asyncpg.Pool, *, technician: str, created_by: str, ttl: timedelta
) -> tuple[Enrolment, str]:
    """The enrolment and its code in clear (shown once)."""
    code = secrets.token_urlsafe(CODE_BYTES)
    row = await pool.fetchrow(
        "INSERT INTO technician_enrolments (code_hash, technician, created_by, expires_at)"
        f" VALUES ($1, $2, $3, now() + $4::interval) RETURNING {_COLS}",
        digest(code),
        technician,
        created_by,
        ttl,
    )
    assert row is not None
    return Enrolment(**dict(row.items())), code


async def redeem(pool: asyncpg.Pool, code: str) -> tuple[Enrolment, str] | None:
    """The enrolment and a fresh technician API key, or None when the code is unknown,
    used, expired or revoked."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLS} FROM technician_enrolments WHERE code_hash = $1"
            " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() FOR UPDATE",
            digest(code),
        )
        if row is None:
            return None
        key = new_key()
        key_id = await conn.fetchval(
            "INSERT INTO api_keys (name, role, key_hash, prefix) VALUES ($1, $2, $3, $4)"
            " RETURNING id",
            row["technician"],
            ENROLLED_ROLE,
            digest(key),
            key[:8],
        )
        done = await conn.fetchrow(
            "UPDATE technician_enrolments SET used_at = now(), api_key_id = $2"
            f" WHERE id = $1 RETURNING {_COLS}",
            row["id"],
            key_id,
        )
    assert done is not None
    return Enrolment(**dict(done.items())), key


async def list_enrolments(pool: asyncpg.Pool, *, limit: int = 200) -> list[Enrolment]:
    rows = await pool.fetch(
        f"SELECT {_COLS} FROM technician_enrolments ORDER BY id DESC LIMIT $1", limit
    )
    return [Enrolment(**dict(r.items())) for r in rows]


async def revoke_enrolment(pool: asyncpg.Pool, enrolment_id: int) -> Enrolment | None:
    """Revoke the enrolment and the key it issued; None when there is no such enrolment."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE technician_enrolments SET revoked_at = coalesce(revoked_at, now())"
            f" WHERE id = $1 RETURNING {_COLS}",
            enrolment_id,
        )
        if row is None:
            return None
        if row["api_key_id"] is not None:
            await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                row["api_key_id"],
            )
    return Enrolment(**dict(row.items()))
