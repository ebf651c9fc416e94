"""A backlog of old readings is announced as what the live picture needs (each device's
oldest and newest reading, and where a gauge's water level turns), and the flood level
ends where judging every reading would have left it, whatever the thresholds."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from alerts.levels import LEVELS, next_level
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


def _final(levels: list[float], start: str, th: FloodThresholds) -> tuple[str, str]:
    """The level a gauge ends at, and the highest it reached, judging ``levels`` in order."""
    level = highest = start
    for v in levels:
        level = next_level(v, level, th)
        highest = max(highest, level, key=LEVELS.index)
    return level, highest


def _water(readings: list[Reading]) -> list[float]:
    ordered = sorted(readings, key=lambda r: r.time)
    return [r.values["water_level"] for r in ordered if isinstance(r.values["water_level"], float)]


def test_the_flood_level_ends_the_same_from_the_announced_readings_for_any_thresholds() -> None:
    rng = random.Random(17)
    newest_only_differs = 0
    for case in range(2000):
        n = rng.choice([3, 5, 20, 100, 300])
        if case % 3 == 0:  # noise around one level
            base = rng.uniform(0, 400)
            levels = [base + rng.gauss(0, rng.choice([1, 10, 60])) for _ in range(n)]
        elif case % 3 == 1:  # a random walk
            v = rng.uniform(0, 400)
            levels = []
            for _ in range(n):
                v += rng.gauss(0, 15)
                levels.append(v)
        else:  # a flood wave: up to a peak and down, with noise
            peak = rng.randrange(n)
            levels = [300 - abs(i - peak) * rng.uniform(1, 8) + rng.gauss(0, 3) for i in range(n)]
        readings = _gauge("G", [round(x, 1) for x in levels])
        rng.shuffle(readings)  # the order messages arrive in is not the order of time
        kept = live_readings(readings, KINDS)
        assert len(kept) <= len(readings)
        full, announced = _water(readings), _water(kept)
        waspada = rng.uniform(0, 300)
        siaga = waspada + rng.uniform(1, 100)
        th = FloodThresholds(
            waspada=waspada,
            siaga=siaga,
            awas=siaga + rng.uniform(1, 100),
            hysteresis_cm=rng.choice([0, 1, 10, 40]),
        )
        start = rng.choice(LEVELS)
        assert _final(announced, start, th) == _final(full, start, th), (case, full, th)
        assert max(announced) == max(full)
        assert min(announced) == min(full)
        assert announced[-1] == full[-1]
        newest_only_differs += _final(full[-1:], start, th) != _final(full, start, th)
    # The check has teeth: judging only the newest reading would often end elsewhere.
    assert newest_only_differs > 100


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
    # oldest, newest, and the turns (99 is the lowest after 101, 150 the highest after it)
    assert [r.values["water_level"] for r in by_device["G"]] == [100.0, 99.0, 150.0, 120.0]
    assert [r for r in kept if r.device_id == "G"] == [gauge[0], gauge[4], gauge[5], gauge[8]]
    assert by_device["FEW"] == few  # under eight readings: picking costs more than it saves
    live = [Reading(f"D{i}", "flood_gauge", NOW, {"water_level": 1.0}) for i in range(500)]
    assert live_readings([*live, *live[:10]], KINDS) == [*live, *live[:10]]


async def test_a_backlog_with_a_flood_peak_raises_and_resolves_the_level_alert_through_ingest(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """Two hours buffered on a gauge, the river up past AWAS and back down, arrive in one
    message: the peak is judged (one alert, opened, resolved) and the gauge ends NORMAL, as
    when every reading was announced; the announcement holds far fewer readings. The one
    difference: judged reading by reading the alert stepped down through SIAGA and WASPADA
    and was resolved at 'info'; from the turns it goes from the peak to the end, so the
    resolved alert keeps the peak's severity."""
    g = f"AWLR-BACKLOG-{uid}"
    await register(pool, "flood_gauge", [g])
    th = FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10)
    config = AlertConfig(flood_stations={g: th}, rise_cm_per_h=1e9, evaluate_every_s=3600)
    rng = random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0)
    levels = [round(350 - abs(i - 60) * 5 + rng.uniform(-3, 3), 1) for i in range(120)]
    levels[-1] = 40.0
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
            [alert] = await eventually(
                lambda: list_alerts(pool, device_id=g, rule="flood_level"),
                lambda a: len(a) == 1 and a[0].status == "resolved",
            )
    finally:
        await listener.close()
    assert alert.severity == "critical"
    assert await pool.fetchval("SELECT level FROM flood_levels WHERE device_id = $1", g) == (
        "NORMAL"
    )
    water = [it["values"]["water_level"] for it in announced]  # type: ignore[index]
    assert (water[0], water[-1], max(water)) == (levels[0], 40.0, max(levels))
    assert len(water) < 30
