"""Hourly rollups after they are materialised the way production does it, on both paths.

On plain PostgreSQL the rollup refresher recomputes dirty hours; on TimescaleDB the rollups
are continuous aggregates, and the refresher plus the refresh policy (run here with
``CALL run_job``, as the scheduler would) materialise them. Either way an hour answers what
its raw rows say: late readings count at once and after every refresh, a newest reading
without a field does not hide the field's last value, and rollup answers equal raw answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.history import BucketQuery, bucket_row_chunks
from core.storage.rollups import refresh_rollups
from core.wire import Reading

pytestmark = pytest.mark.anyio
WIB = ZoneInfo("Asia/Jakarta")


async def buckets_rows(pool: asyncpg.Pool, q: BucketQuery) -> list[tuple[object, ...]]:
    return [row async for chunk in bucket_row_chunks(pool, q) for row in chunk]


def _hour() -> datetime:
    """A whole UTC hour three days ago: below every policy's end offset."""
    now = datetime.now(UTC) - timedelta(days=3)
    return now.replace(minute=0, second=0, microsecond=0)


async def _write(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    device: str,
    rows: list[tuple[datetime, dict]],  # type: ignore[type-arg]
) -> None:
    readings = [Reading(device, "flood_gauge", t, values) for t, values in rows]
    await write_batch(pool, kinds, readings, [], datetime.now(UTC))


async def _materialise(pool: asyncpg.Pool, kinds: KindRegistry, storage_path: str) -> None:
    """The refresher until nothing is dirty, then (TimescaleDB) every aggregate policy job."""
    while (await refresh_rollups(pool, kinds)).buckets:
        pass
    if storage_path == "timescaledb":
        jobs = await pool.fetch(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY job_id"
        )
        assert len(jobs) == len(kinds), "one refresh policy per kind"
        async with pool.acquire() as conn:
            for j in jobs:
                await conn.execute(f"CALL run_job({int(j['job_id'])})")


async def _hours(
    pool: asyncpg.Pool, kinds: KindRegistry, device: str, start: datetime, hours: int
) -> list[tuple[object, ...]]:
    q = BucketQuery(
        kind=kinds["flood_gauge"],
        device_ids=[device],
        start=start,
        end=start + timedelta(hours=hours),
        bucket=timedelta(hours=1),
        tz="UTC",
        fields=["water_level", "rain"],
        aggs=["avg", "count", "last"],
        use_rollup=True,
    )
    return [r[2:] for r in await buckets_rows(pool, q)]


async def _device(pool: asyncpg.Pool, name: str) -> None:
    await upsert_devices(
        pool, [DeviceRow(name, "flood_gauge", name, "active", "Muara Enim", None, None)]
    )


async def test_an_hour_whose_newest_reading_lacks_a_field_keeps_that_fields_last_value(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, storage_path: str
) -> None:
    g = f"AWLR-M-{uid}"
    await _device(pool, g)
    h = _hour()
    await _write(
        pool,
        kinds,
        g,
        [
            (h + timedelta(minutes=5), {"water_level": 10.0}),
            (h + timedelta(minutes=10), {"water_level": 20.0}),
            (h + timedelta(minutes=15), {"rain": 1.5}),
        ],
    )
    await _materialise(pool, kinds, storage_path)
    # water_level avg/count/last, rain avg/count/last
    assert await _hours(pool, kinds, g, h, 1) == [(15.0, 2, 20.0, 1.5, 1, 1.5)]


async def test_late_readings_count_at_once_and_after_every_refresh(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, storage_path: str
) -> None:
    g = f"AWLR-L-{uid}"
    await _device(pool, g)
    h = _hour()
    await _write(pool, kinds, g, [(h + timedelta(minutes=10), {"water_level": 40.0})])
    await _materialise(pool, kinds, storage_path)
    assert await _hours(pool, kinds, g, h, 2) == [
        (40.0, 1, 40.0, None, 0, None),
        (None, 0, None, None, 0, None),
    ]

    # late: 60 into the hour holding 40, 99 into the empty hour after it
    await _write(
        pool,
        kinds,
        g,
        [
            (h + timedelta(minutes=50), {"water_level": 60.0}),
            (h + timedelta(hours=1, minutes=30), {"water_level": 99.0}),
        ],
    )
    expected = [(50.0, 2, 60.0, None, 0, None), (99.0, 1, 99.0, None, 0, None)]
    assert await _hours(pool, kinds, g, h, 2) == expected, "at once"
    while (await refresh_rollups(pool, kinds)).buckets:
        pass
    assert await _hours(pool, kinds, g, h, 2) == expected, "after the rollup refresher"
    await _materialise(pool, kinds, storage_path)
    assert await _hours(pool, kinds, g, h, 2) == expected, "after the refresh policy"


async def test_rollup_answers_equal_raw_answers_once_materialised(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, storage_path: str
) -> None:
    g = f"AWLR-R-{uid}"
    await _device(pool, g)
    local = (datetime.now(WIB) - timedelta(days=4)).date()
    start = datetime(local.year, local.month, local.day, tzinfo=WIB)  # a local midnight
    rows = []
    for i in range(0, 24 * 60, 7):  # every 7 minutes for a day, some fields left out
        values: dict[str, float] = {}
        if i % 3:
            values["water_level"] = 100.0 + (i * 37 % 91) / 4
        if i % 5 == 0:
            values["rain"] = (i % 11) / 2
        rows.append((start + timedelta(minutes=i), values or {"battery_v": 12.5}))
    await _write(pool, kinds, g, rows)
    await _materialise(pool, kinds, storage_path)
    # and a few late ones into materialised hours
    await _write(
        pool,
        kinds,
        g,
        [(start + timedelta(hours=h, minutes=59), {"rain": 9.0}) for h in (2, 7, 13)],
    )
    while (await refresh_rollups(pool, kinds)).buckets:
        pass
    for bucket in (timedelta(hours=1), timedelta(days=1)):
        q = BucketQuery(
            kind=kinds["flood_gauge"],
            device_ids=[g],
            start=start,
            end=start + timedelta(days=2),
            bucket=bucket,
            tz="Asia/Jakarta",
            fields=["water_level", "rain"],
            aggs=["avg", "min", "max", "count", "last"],
            use_rollup=True,
        )
        rolled = await buckets_rows(pool, q)
        raw = await buckets_rows(pool, BucketQuery(**{**_fields(q), "use_rollup": False}))
        assert len(rolled) == len(raw) >= 2
        for a, b in zip(rolled, raw, strict=True):
            assert a[:2] == b[:2]
            assert a[2:] == pytest.approx(b[2:]), a[1]


def _fields(q: BucketQuery) -> dict[str, object]:
    return {name: getattr(q, name) for name in BucketQuery.__dataclass_fields__}
