"""One ingest batch, written in one transaction: readings, latest state, statuses, dead letters.

Ingest acknowledges the batch's messages to the broker only after this commits, so the
transaction is the unit of the delivery guarantee. Readings go in with one
``INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING`` per kind: measured against COPY
into a temp table followed by ``INSERT .. ON CONFLICT`` it was ~10 % faster here (48k vs
44k rows/s per connection at 2,000-row batches; see README "Delivery guarantee").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.kinds import KindRegistry
from core.storage.dead_letters import DeadLetter, insert_dead_letters
from core.storage.device_status import StatusChange, record_statuses
from core.storage.events import publish_batch
from core.storage.readings import advance_latest_state, insert_readings
from core.wire import Reading


@dataclass(frozen=True, slots=True)
class BatchResult:
    inserted: int
    duplicates: int
    dead_letters: int


async def write_batch(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    readings: Sequence[Reading],
    dead_letters: Sequence[DeadLetter],
    received_at: datetime,
    statuses: Sequence[StatusChange] = (),
) -> BatchResult:
    by_kind: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        by_kind[r.kind].append(r)
    inserted = 0
    async with pool.acquire() as conn, conn.transaction():
        for kind_name in sorted(by_kind):
            inserted += await insert_readings(
                conn, kinds[kind_name], by_kind[kind_name], received_at
            )
        await advance_latest_state(conn, readings, received_at)
        await record_statuses(conn, statuses, received_at)
        await insert_dead_letters(conn, dead_letters)
        await publish_batch(conn, readings, received_at)  # rollups + live stream + alerts
    return BatchResult(
        inserted=inserted, duplicates=len(readings) - inserted, dead_letters=len(dead_letters)
    )
