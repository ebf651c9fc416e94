"""One ingest batch, written in one transaction: readings, latest state, statuses, dead letters.

Ingest acknowledges the batch's messages to the broker only after this commits, so the
transaction is the unit of the delivery guarantee. Readings go in per kind by binary
``COPY`` straight into the readings table under a savepoint; a batch holding a reading
that is already stored falls back to ``INSERT .. SELECT FROM unnest(..) ON CONFLICT DO
NOTHING`` (see :func:`core.storage.readings.store_kind_rows`). COPY into a temp
table followed by ``INSERT .. ON CONFLICT`` was measured earlier and was slower than the
plain ``INSERT .. ON CONFLICT`` (README "Delivery guarantee").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

import asyncpg

from core.kinds import KindRegistry
from core.storage.dead_letters import DeadLetter, insert_dead_letters
from core.storage.device_status import StatusChange, record_statuses
from core.storage.events import batch_events, publish_events
from core.storage.readings import kind_rows, latest_rows, store_kind_rows, write_latest_state
from core.storage.runs import Run, runs_of
from core.wire import Reading

_KIND = attrgetter("kind")


@dataclass(frozen=True, slots=True)
class BatchResult:
    inserted: int
    duplicates: int
    dead_letters: int
    copied: int = 0
    """Of ``inserted``, how many went in by the binary COPY fast path."""
    newest: list[tuple[str, str, datetime]] = field(default_factory=list)
    """(device, kind, time of its newest reading) per device in the batch, in id order: what
    the batch's commit lets ingest tell each device is stored (worked out with the latest
    state)."""


def _by_kind(readings: Sequence[Reading], runs: Sequence[Run] | None) -> dict[str, list[Reading]]:
    """The batch's readings per kind, in batch order (most batches hold one kind)."""
    present = set(map(_KIND, readings))
    if len(present) == 1:
        return {present.pop(): list(readings)}
    by_kind: dict[str, list[Reading]] = defaultdict(list)
    if runs is not None:
        for run in runs:
            by_kind[run.kind].extend(run.readings)
        return by_kind
    for r in readings:
        by_kind[r.kind].append(r)
    return by_kind


async def write_batch(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    readings: Sequence[Reading],
    dead_letters: Sequence[DeadLetter],
    received_at: datetime,
    statuses: Sequence[StatusChange] = (),
) -> BatchResult:
    # Everything Python has to work out comes first (rows to COPY, latest state, rollup
    # marks, notifications): while it runs, the connection and the latest_state and
    # rollup_dirty row locks stay free for the batch before it.
    runs = runs_of(readings)
    by_kind = _by_kind(readings, runs)
    per_kind = [kind_rows(kinds[k], by_kind[k], received_at) for k in sorted(by_kind)]
    latest = latest_rows(readings, runs)
    events = batch_events(readings, received_at, kinds, runs)
    inserted = copied = 0
    async with pool.acquire() as conn, conn.transaction():
        for rows in per_kind:
            outcome = await store_kind_rows(conn, rows, received_at)
            inserted += outcome.inserted
            copied += outcome.inserted if outcome.copied else 0
        await record_statuses(conn, statuses, received_at)
        await insert_dead_letters(conn, dead_letters)
        await publish_events(conn, events)  # rollups + live stream + alerts
        # Last: other workers' batches wait on these rows until this one commits.
        await write_latest_state(conn, latest, received_at)
    ids, kinds_of, times, _ = latest
    return BatchResult(
        inserted=inserted,
        duplicates=len(readings) - inserted,
        dead_letters=len(dead_letters),
        copied=copied,
        newest=list(zip(ids, kinds_of, times, strict=True)),
    )
