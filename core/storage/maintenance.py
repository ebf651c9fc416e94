"""Retention on the plain-PostgreSQL path, and the dead-letter bound on both paths.

TimescaleDB drops old readings chunks by policy (core/storage/timescale.py); plain
PostgreSQL needs this job. Dead letters are bounded by age *and* by row count, so a noisy
device cannot fill the disk. Deletes go in slices to keep each transaction short.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from core.kinds import KindRegistry

if TYPE_CHECKING:
    from core.storage.pool import Conn

# Only one process prunes at a time (several ingest workers share the job).
PRUNE_LOCK_KEY = 0x50727565  # "Prue"
_SLICE = 20_000


@dataclass(frozen=True, slots=True)
class PruneResult:
    ran: bool
    readings_deleted: int
    dead_letters_deleted: int


async def storage_path(pool: asyncpg.Pool) -> str:
    value = await pool.fetchval("SELECT value FROM citysense_meta WHERE key = 'storage_path'")
    return str(value or "postgresql")


async def _delete_in_slices(conn: Conn, sql: str, *args: object) -> int:
    total = 0
    while True:
        status = await conn.execute(sql, *args)
        n = int(status.rsplit(" ", 1)[-1])
        total += n
        if n < _SLICE:
            return total


async def prune(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    *,
    now: datetime,
    retention_days: int,
    dead_letter_retention_days: int,
    dead_letter_max_rows: int,
) -> PruneResult:
    """Delete readings older than retention (plain PostgreSQL only) and excess dead letters."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PRUNE_LOCK_KEY):
            return PruneResult(False, 0, 0)
        try:
            readings = 0
            path = await conn.fetchval(
                "SELECT value FROM citysense_meta WHERE key = 'storage_path'"
            )
            if path != "timescaledb":
                cutoff = now - timedelta(days=retention_days)
                for kind in kinds.values():
                    readings += await _delete_in_slices(
                        conn,
                        f"DELETE FROM {kind.table} WHERE ctid = ANY(ARRAY("
                        f"SELECT ctid FROM {kind.table} WHERE time < $1 LIMIT {_SLICE}))",
                        cutoff,
                    )
            letters = await _delete_in_slices(
                conn,
                "DELETE FROM dead_letters WHERE id = ANY(ARRAY("
                f"SELECT id FROM dead_letters WHERE received_at < $1 LIMIT {_SLICE}))",
                now - timedelta(days=dead_letter_retention_days),
            )
            newest = await conn.fetchval("SELECT max(id) FROM dead_letters")
            if newest is not None:
                letters += await _delete_in_slices(
                    conn,
                    "DELETE FROM dead_letters WHERE id = ANY(ARRAY("
                    f"SELECT id FROM dead_letters WHERE id <= $1 ORDER BY id LIMIT {_SLICE}))",
                    int(newest) - dead_letter_max_rows,
                )
            return PruneResult(True, readings, letters)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK_KEY)
