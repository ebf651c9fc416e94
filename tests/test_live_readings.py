"""A backlog of old readings is announced as what the live picture needs: each device's
oldest and newest reading, and every reading of a field judged reading by reading (the
gauges' water level, whose flood level has a dwell in reading time)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from core.kinds import KindRegistry, builtin_kinds
from core.settings import Settings
from core.storage.alerts import list_alerts
from core.storage.events import CHANNEL, decode_notification, live_readings
from core.wire import Reading, Topics
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.operations import register, running_operations
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
KINDS = builtin_kinds()


def _gauge(device: str, levels: list[float | int | str | None]) -> list[Reading]:
    return [
        Reading(device, "flood_gauge", NOW - timedelta(minutes=len(levels) - i), {"water_level": v})
        for i, v in enumerate(levels)
    ]


def test_each_device_keeps_its_oldest_and_newest_reading_and_small_batches_stay_whole() -> None:
    lights = [
        Reading("SL-1", "streetlight", NOW - timedelta(minutes=i), {"dim_pct": float(i)})
        for i in range(100)
    ]
    nodes = [
        Reading("NN-1", "network_node", NOW - timedelta(minutes=i), {"latency": 20.0 + i % 3})
        for i in range(50)
    ]
    gauge = _gauge("G", [100.0, "bad", None, 101.0, 99.0, 150.0, 130.0, 140.0, 120.0])
    few = _gauge("FEW", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    kept = live_readings([*lights, *nodes, *gauge, *few], KINDS)
    by_device: dict[str, list[Reading]] = {}
    for r in kept:
        by_device.setdefault(r.device_id, []).append(r)
    assert [r.time for r in by_device["SL-1"]] == [lights[0].time, lights[-1].time]
    assert [r.time for r in by_device["NN-1"]] == [nodes[0].time, nodes[-1].time]
    # every gauge reading (the flood level's dwell needs each water level and its time)
    assert [r for r in kept if r.device_id == "G"] == gauge
    assert by_device["FEW"] == few  # under eight readings: picking costs more than it saves
    live = [Reading(f"D{i}", "flood_gauge", NOW, {"water_level": 1.0}) for i in range(500)]
    assert live_readings([*live, *live[:10]], KINDS) == [*live, *live[:10]]


async def test_a_backlog_with_a_flood_peak_raises_and_resolves_the_level_alert_through_ingest(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """Two hours buffered on a gauge, the river up past AWAS and back down, arrive in one
    message: every water level is announced, so the evaluator judges the whole episode (one
    alert, raised and resolved) and the gauge ends NORMAL."""
    g = f"AWLR-BACKLOG-{uid}"
    await register(pool, "flood_gauge", [g])
    th = FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10, dwell_min=10)
    config = AlertConfig(flood_stations={g: th}, rise_cm_per_h=1e9, evaluate_every_s=3600)
    rng = random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0)
    levels = [round(350 - abs(i - 60) * 5 + rng.uniform(-3, 3), 1) for i in range(120)]
    levels[-30:] = [40.0] * 30  # the last half hour low: longer than the dwell
    body = [
        {"ts": (now - timedelta(minutes=120 - i)).isoformat(), "water_level": v}
        for i, v in enumerate(levels)
    ]
    announced: list[dict[str, object]] = []
    listener = await asyncpg.connect(settings.database_url)

    def heard(*args: object) -> None:
        kind, items = decode_notification(str(args[3]))
        announced.extend(it for it in items if kind == "readings" and it["device_id"] == g)

    await listener.add_listener(CHANNEL, heard)
    try:
        async with (
            running_ingest(settings, pool, kinds),
            running_operations(settings, pool, kinds, config) as ops,
        ):
            topic = Topics().telemetry("flood_gauge", g)
            await asyncio.to_thread(
                publish_all, settings.mqtt_port, [(topic, json.dumps(body).encode())]
            )
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", g
                ),
                lambda n: n == 120,
            )
            await eventually(lambda: asyncio.sleep(0, len(announced)), lambda n: n > 0)
            await ops.idle()
            await eventually(
                lambda: list_alerts(pool, device_id=g, rule="flood_level"),
                lambda a: len(a) == 1 and a[0].status == "resolved",
            )
    finally:
        await listener.close()
    assert await pool.fetchval("SELECT level FROM flood_levels WHERE device_id = $1", g) == (
        "NORMAL"
    )
    water = [it["values"]["water_level"] for it in announced]  # type: ignore[index]
    assert water == levels
