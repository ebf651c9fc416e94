"""The delivery contract's parts that need no fault: nothing under the root vanishes, and
ingest tells each device, retained, how far its readings are stored."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from core.wire import Topics, decode_watermark
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.mqtt_auth import session
from tests.support.operations import register
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_messages_on_other_topics_under_the_root_are_dead_lettered_with_a_reason(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    root = Topics().root
    device = f"STRAY-{uid}"
    await register(pool, "flood_gauge", [device])
    strays = [
        f"{root}/flood_gauge/{device}/telemetry/extra",  # an extra level
        f"{root}/flood_gauge/{device}/readings",  # an unknown channel
        f"{root}/flood_gauge/{device}",  # too short
        f"{root}/{device}",
    ]
    body = json.dumps({"ts": datetime.now(UTC).isoformat(), "water_level": 1.0}).encode()

    async def letters() -> list[tuple[str, str]]:
        rows = await pool.fetch(
            "SELECT topic, code FROM dead_letters WHERE topic LIKE '%' || $1 || '%'", device
        )
        return sorted((r["topic"], r["code"]) for r in rows)

    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(publish_all, settings.mqtt_port, [(t, body) for t in strays])
        found = await eventually(letters, lambda v: len(v) >= len(strays))
    assert found == sorted((t, "bad_topic") for t in strays)
    reason = await pool.fetchval("SELECT reason FROM dead_letters WHERE topic = $1", strays[0])
    assert "telemetry topic" in reason


async def test_ingest_publishes_each_devices_newest_stored_time_retained_on_its_stored_topic(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    t = Topics()
    devices = [f"MARK{d}-{uid}" for d in range(3)]
    await register(pool, "flood_gauge", devices)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    newest = {d: base + timedelta(seconds=10 * (i + 1)) for i, d in enumerate(devices)}
    messages = []
    for i, d in enumerate(devices):
        for s in range(10 * (i + 1), 0, -1):  # newest first: the watermark is the max, not the last
            ts = base + timedelta(seconds=s)
            messages.append(
                (
                    t.telemetry("flood_gauge", d),
                    json.dumps({"ts": ts.isoformat(), "rain": 0.5}).encode(),
                )
            )

    no_hold = settings.model_copy(update={"ingest_watermark_hold_s": 0})
    async with running_ingest(no_hold, pool, kinds) as service:
        await asyncio.to_thread(publish_all, settings.mqtt_port, messages)
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = ANY($1)", devices
            ),
            lambda n: n == len(messages),
        )
        await eventually(lambda: asyncio.sleep(0, service.watermarks.published), lambda n: n >= 3)
        # A device that connects later gets its watermark, retained. (Each device's own
        # topic: other tests leave retained watermarks of their devices on this broker.)
        with session(settings.mqtt_port, None, None) as s:
            assert not isinstance(s, int)
            s.client.subscribe([(t.stored("flood_gauge", d), 1) for d in devices])
            got = await asyncio.to_thread(s.wait_received, 3)
        marks = {topic: decode_watermark(payload) for topic, payload in got if uid in topic}
        assert marks == {t.stored("flood_gauge", d): newest[d] for d in devices}
        # ingest passes over watermarks (its own, or another worker's) without a dead letter
        assert service.stats.dead_letters == 0
