"""Readings go in by binary COPY when none is stored yet, and stay idempotent: a batch that
holds an already-stored reading falls back to ``INSERT .. ON CONFLICT DO NOTHING`` and
stores the rest exactly once; repeats inside one batch are stored once, the first kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.storage.batches import write_batch
from core.storage.readings import first_of_each
from core.wire import Reading

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _gauge(device: str, n: int, start: int = 0, level: float = 100.0) -> list[Reading]:
    return [
        Reading(
            device,
            "flood_gauge",
            T0 + timedelta(seconds=start + i),
            {"water_level": level + i, "rssi": -70, "power_source": "PLN"},
        )
        for i in range(n)
    ]


async def _stored(pool: asyncpg.Pool, device: str) -> list[tuple[datetime, float]]:
    rows = await pool.fetch(
        "SELECT time, water_level FROM readings_flood_gauge WHERE device_id = $1 ORDER BY time",
        device,
    )
    return [(r["time"], r["water_level"]) for r in rows]


async def test_a_fresh_batch_goes_in_by_copy(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    dev = f"CP{uid}"
    readings = _gauge(dev, 150)
    result = await write_batch(pool, kinds, readings, [], T0)
    assert (result.inserted, result.duplicates, result.copied) == (150, 0, 150)
    stored = await _stored(pool, dev)
    assert stored == [(r.time, r.values["water_level"]) for r in readings]
    row = await pool.fetchrow(
        "SELECT received_at, rssi, power_source, rain FROM readings_flood_gauge"
        " WHERE device_id = $1 AND time = $2",
        dev,
        T0,
    )
    assert row is not None
    assert (row["received_at"], row["rssi"], row["power_source"], row["rain"]) == (
        T0,
        -70,
        "PLN",
        None,
    )
    latest = await pool.fetchval("SELECT time FROM latest_state WHERE device_id = $1", dev)
    assert latest == readings[-1].time


async def test_a_batch_with_a_stored_reading_falls_back_and_stores_the_rest_once(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    dev = f"CF{uid}"
    first = _gauge(dev, 10)
    assert (await write_batch(pool, kinds, first, [], T0)).copied == 10
    # A resend: the last stored reading (with another value) plus 20 new ones, and a
    # second device whose readings are all new, all in one batch.
    other = f"CO{uid}"
    resend = [*_gauge(dev, 1, start=9, level=999.0), *_gauge(dev, 20, start=10)]
    batch = [*resend, *_gauge(other, 5)]
    result = await write_batch(pool, kinds, batch, [], T0)
    assert (result.inserted, result.duplicates, result.copied) == (25, 1, 0)
    stored = await _stored(pool, dev)
    assert len(stored) == 30
    assert len({t for t, _ in stored}) == 30
    assert stored[9] == (T0 + timedelta(seconds=9), 109.0)  # the stored value stays
    assert len(await _stored(pool, other)) == 5
    # Redelivering the whole batch again stores nothing and reports every one a duplicate.
    again = await write_batch(pool, kinds, batch, [], T0)
    assert (again.inserted, again.duplicates, again.copied) == (0, 26, 0)
    assert len(await _stored(pool, dev)) == 30


async def test_repeats_inside_one_batch_are_stored_once_first_kept(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    dev = f"CD{uid}"
    readings = _gauge(dev, 8)
    repeats = _gauge(dev, 3, start=2, level=555.0)  # same times as readings[2:5]
    batch = [*readings, *repeats]
    result = await write_batch(pool, kinds, batch, [], T0)
    # a repeat inside the batch makes COPY fail like a stored reading: the fallback stores
    # each (device, time) once (ingest drops repeated messages before they get here)
    assert (result.inserted, result.duplicates, result.copied) == (8, 3, 0)
    assert await _stored(pool, dev) == [(r.time, r.values["water_level"]) for r in readings]


def test_first_of_each_keeps_first_and_order() -> None:
    a = _gauge("A", 3)
    b = _gauge("B", 2)
    same_instant_other_zone = Reading(
        "A", "flood_gauge", a[1].time.astimezone(timezone(timedelta(hours=7))), {"water_level": 1.0}
    )
    out = first_of_each([a[0], b[0], a[0], same_instant_other_zone, a[1], b[1], a[2]])
    assert out == [a[0], b[0], same_instant_other_zone, b[1], a[2]]
