"""The per-batch announcement ingest makes: the same JSON as before it was made cheaper, and
every chunk of a large batch delivered, in order, by one round trip."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from core.storage.events import (
    CHANNEL,
    MAX_PAYLOAD,
    chunk_encoded,
    chunk_payloads,
    encode_readings,
    publish_batch,
    reading_items,
)
from core.wire import Reading

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def _readings(device: str, n: int) -> list[Reading]:
    return [
        Reading(
            f"{device}-{i % 7}",
            "flood_gauge",
            NOW - timedelta(milliseconds=13 * i),
            {"water_level": 100.5 + i, "rssi": -80, "power_source": "PLN", "ok": i % 2 == 0},
        )
        for i in range(n)
    ]


def test_encoded_items_are_the_dict_items_as_json() -> None:
    odd = Reading(
        'Ü"\\x', "k", datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=7))), {"a": 1.0}
    )
    readings = [*_readings("G", 300), odd]
    expected = chunk_payloads("readings", reading_items(readings, NOW))
    assert chunk_encoded("readings", encode_readings(readings, NOW)) == expected
    assert len(expected) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in expected)
    items = [it for p in expected for it in json.loads(p)["items"]]
    assert [it["time"] for it in items] == sorted(it["time"] for it in items)


async def test_a_large_batch_arrives_whole_and_in_order(database_url: str, uid: str) -> None:
    readings = _readings(f"EV{uid}", 500)
    got: list[str] = []
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CHANNEL, lambda *args: got.append(args[3]))
        async with writer.transaction():
            await publish_batch(writer, readings, NOW)
        want = chunk_payloads("readings", reading_items(readings, NOW))
        assert len(want) > 5
        for _ in range(100):
            if len([p for p in got if uid in p]) >= len(want):
                break
            await asyncio.sleep(0.05)
        assert [p for p in got if uid in p] == want
        dirty = await writer.fetch(
            "SELECT kind, device_id, bucket FROM rollup_dirty WHERE device_id LIKE $1",
            f"EV{uid}-%",
        )
        hours = {
            ("flood_gauge", r.device_id, r.time.replace(minute=0, second=0, microsecond=0))
            for r in readings
        }
        assert len(hours) == 8  # 7 devices in the 04:00 hour, the newest reading at 05:00
        assert {(d["kind"], d["device_id"], d["bucket"]) for d in dirty} == hours
    finally:
        await listener.close()
        await writer.close()
