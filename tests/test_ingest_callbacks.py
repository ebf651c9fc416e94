"""Ingest's callbacks on paho's network thread are guarded: one that raises (here, taking
in one hand-over of messages) costs that hand-over, not the thread. Unguarded, paho
re-raised from its thread, which ended: ingest looked alive and stored nothing more."""

from __future__ import annotations

import asyncio
import json
import threading

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from core.wire import Topics
from ingest import service as ingest_service
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.operations import ago, register
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_hand_over_that_raises_leaves_ingest_receiving(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = f"AWLR-GUARD-{uid}"
    await register(pool, "flood_gauge", [device])
    topic = Topics().telemetry("flood_gauge", device)
    failed = threading.Event()
    real = ingest_service.Incoming

    def incoming(topic: str, *args: object) -> object:
        if topic.endswith(device + "/telemetry") and not failed.is_set():
            failed.set()
            raise RuntimeError("a bug while taking in a message")
        return real(topic, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_service, "Incoming", incoming)

    def body(level: float, minutes: float) -> bytes:
        return json.dumps({"ts": ago(minutes), "water_level": level}).encode()

    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(publish_all, settings.mqtt_port, [(topic, body(100.0, 2))])
        await eventually(lambda: asyncio.sleep(0, failed.is_set()), lambda f: f)
        await asyncio.to_thread(publish_all, settings.mqtt_port, [(topic, body(101.0, 1))])
        stored = await eventually(
            lambda: pool.fetch(
                "SELECT water_level FROM readings_flood_gauge WHERE device_id = $1", device
            ),
            lambda rows: len(rows) >= 1,
        )
    assert [r["water_level"] for r in stored] == [101.0]
