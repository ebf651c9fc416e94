"""A message delivered twice into one batch (QoS 1 redelivery after a reconnect, while the
first copy still waits in the inbox) is stored once, by the COPY fast path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.kinds import KindRegistry, builtin_kinds
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow
from core.wire import DecodeLimits, Topics
from ingest.router import Incoming, route

pytestmark = pytest.mark.anyio


async def test_a_redelivered_message_in_the_same_batch_is_stored_once_by_copy(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    device = f"AWLR-RD-{uid}"
    topics = Topics()
    now = datetime.now(UTC)
    backlog = [
        {"ts": (now - timedelta(minutes=m)).isoformat(), "water_level": 100.0 + m}
        for m in range(50, 0, -1)
    ]
    payload = json.dumps(backlog).encode()
    topic = topics.telemetry("flood_gauge", device)
    other = json.dumps({"ts": now.isoformat(), "water_level": 1.0}).encode()
    batch = [
        Incoming(topic, payload, 1, 1),
        Incoming(topic, other, 2, 1),
        Incoming(topic, payload, 1, 1),  # the redelivery: same topic, same bytes
    ]
    devices = {device: DeviceRow(device, "flood_gauge", device, "active", None, None, None)}
    routed = route(
        batch, topics=topics, kinds=kinds, devices=devices, limits=DecodeLimits(), now=now
    )
    assert len(routed.readings) == 51
    assert routed.repeated == 50  # counted as duplicates
    assert routed.dead_letters == []
    result = await write_batch(pool, kinds, routed.readings, routed.dead_letters, now)
    assert (result.inserted, result.duplicates, result.copied) == (51, 0, 51)
    stored = await pool.fetchval(
        "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", device
    )
    assert stored == 51


def test_a_repeated_refused_message_is_dead_lettered_each_time() -> None:
    """The operator sees every refused message, repeats included (the quota bounds them)."""
    topics = Topics()
    device = "AWLR-RD-BAD"
    topic = topics.telemetry("flood_gauge", device)
    bad = Incoming(topic, b'{"ts": "yesterday", "water_level": 1}', 1, 1)
    devices = {device: DeviceRow(device, "flood_gauge", device, "active", None, None, None)}
    routed = route(
        [bad, bad],
        topics=topics,
        kinds=builtin_kinds(),
        devices=devices,
        limits=DecodeLimits(),
        now=datetime.now(UTC),
    )
    assert [d.code for d in routed.dead_letters] == ["invalid", "invalid"]
    assert routed.repeated == 0
