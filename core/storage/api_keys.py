"""API keys: issued once in clear, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

KEY_PREFIX = "cs_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_api_key(pool: asyncpg.Pool, name: str, role: str) -> tuple[ApiKey, str]:
    """Returns the stored key and the clear key, which is never available again."""
    key = new_key()
    row = await pool.fetchrow(
        "INSERT INTO api_keys (name, role, key_hash, prefix) VALUES ($1, $2, $3, $4)"
        " RETURNING id, name, role, prefix, created_at, revoked_at",
        name,
        role,
        digest(key),
        key[:8],
    )
    assert row is not None
    return ApiKey(**dict(row.items())), key


async def find_api_key(pool: asyncpg.Pool, key: str) -> ApiKey | None:
    row = await pool.fetchrow(
        "SELECT id, name, role, prefix, created_at, revoked_at FROM api_keys"
        " WHERE key_hash = $1 AND revoked_at IS NULL",
        digest(key),
    )
    return None if row is None else ApiKey(**dict(row.items()))


async def revoke_api_key(pool: asyncpg.Pool, key_id: int) -> bool:
    status = await pool.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status.endswith(" 1")
