"""API keys: issued once in clear, stored as SHA-256 digests; listed, expired and revoked
by id. A key is accepted while it is neither revoked nor past its expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

KEY_PREFIX = "cs_"
_COLUMNS = "id, name, role, prefix, created_at, revoked_at, expires_at"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    role: str
    prefix: str
    """The first characters of the key, so its holder can tell which one it is."""
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(**dict(row.items()))


async def create_api_key(
    pool: asyncpg.Pool, name: str, role: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Returns the stored key and the clear key, which is never available again."""
    key = new_key()
    row = await pool.fetchrow(
        "INSERT INTO api_keys (name, role, key_hash, prefix, expires_at)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
        name,
        role,
        digest(key),
        key[:8],
        expires_at,
    )
    assert row is not None
    return _key(row), key


async def find_api_key(pool: asyncpg.Pool, key: str) -> ApiKey | None:
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        digest(key),
    )
    return None if row is None else _key(row)


async def list_api_keys(pool: asyncpg.Pool, *, include_revoked: bool = False) -> list[ApiKey]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE $1 OR revoked_at IS NULL ORDER BY id",
        include_revoked,
    )
    return [_key(r) for r in rows]


async def get_api_key(pool: asyncpg.Pool, key_id: int) -> ApiKey | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
    return None if row is None else _key(row)


async def expire_api_key(pool: asyncpg.Pool, key_id: int, at: datetime | None) -> ApiKey | None:
    """Set when the key stops working (``None``: now). None if there is no such live key."""
    row = await pool.fetchrow(
        "UPDATE api_keys SET expires_at = coalesce($2, now())"
        f" WHERE id = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}",
        key_id,
        at,
    )
    return None if row is None else _key(row)


async def revoke_api_key(pool: asyncpg.Pool, key_id: int) -> bool:
    status = await pool.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status.endswith(" 1")
