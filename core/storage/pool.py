"""asyncpg pool construction. Built by entry points, passed to whoever needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
    """A connection, whether bare or borrowed from a pool."""


async def _init(conn: asyncpg.Connection) -> None:
    # Every timestamptz crosses the driver as aware UTC, whatever the server's default.
    await conn.execute("SET TIME ZONE 'UTC'")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init)
    assert pool is not None
    return pool
