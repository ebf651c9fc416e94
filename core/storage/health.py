"""What the health endpoint reports about storage."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class StorageInfo:
    storage_path: str
    schema_version: int


async def storage_info(pool: asyncpg.Pool) -> StorageInfo:
    row = await pool.fetchrow(
        "SELECT (SELECT value FROM citysense_meta WHERE key = 'storage_path') AS path,"
        " (SELECT max(version) FROM citysense_migrations) AS version"
    )
    assert row is not None
    return StorageInfo(storage_path=str(row["path"]), schema_version=int(row["version"] or 0))
