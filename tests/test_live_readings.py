"""A backlog of old readings is announced as what the live picture needs: each device's
oldest and newest reading, and for a kind with a field judged reading by reading (the
gauges' water level, whose flood level has a dwell in reading time) a span that the alert
evaluator reads back; the alarms come out as when every reading was announced."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from alerts.evaluator import AlertEvaluator
from alerts.notify import Dispatcher
from alerts.sink import AlertSink
from core.kinds import KindRegistry, builtin_kinds
from core.settings import Settings
from core.storage.alert_inputs import StoredSpan, backlog_readings
from core.storage.alerts import alert_history, list_alerts
from core.storage.batches import write_batch
from core.storage.events import (
    CHANNEL,
    LivePicture,
    Span,
    batch_events,
    decode_notification,
    live_readings,
    reading_items,
)
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
    picture = live_readings([*lights, *nodes, *gauge, *few], KINDS)
    by_device: dict[str, list[Reading]] = {}
    for r in picture.readings:
        by_device.setdefault(r.device_id, []).append(r)
    assert [r.time for r in by_device["SL-1"]] == [lights[0].time, lights[-1].time]
    assert [r.time for r in by_device["NN-1"]] == [nodes[0].time, nodes[-1].time]
    # a gauge's backlog too, and a span that makes the evaluator read every water level back
    assert by_device["G"] == [gauge[0], gauge[-1]]
    assert picture.spans == [Span("G", "flood_gauge", gauge[0].time, gauge[-1].time)]
    assert by_device["FEW"] == few  # under eight readings: picking costs more than it saves
    live = [Reading(f"D{i}", "flood_gauge", NOW, {"water_level": 1.0}) for i in range(500)]
    assert live_readings([*live, *live[:10]], KINDS) == LivePicture([*live, *live[:10]], [])
    shuffled = random.Random(3).sample(gauge, len(gauge))
    assert live_readings(shuffled, KINDS).spans == picture.spans  # oldest and newest by time


def _levels(seed: int) -> list[float]:
    """Two hours of a river: up past AWAS and down, noise, a mixed feed's odd low reading."""
    rng = random.Random(seed)
    levels = [round(350 - abs(i - 60) * 5 + rng.uniform(-3, 3), 1) for i in range(120)]
    levels[70] = 40.0  # one low reading does not end the flood
    levels[-30:] = [40.0 + rng.uniform(0, 2) for _ in range(30)]
    return levels


async def _history(pool: asyncpg.Pool, device: str) -> list[tuple[object, ...]]:
    """Everything the alarms of one gauge did, with the device's own id and name taken out."""
    out: list[tuple[object, ...]] = []
    for a in await list_alerts(pool, device_id=device):
        out.append((a.rule, a.status, a.priority, a.level, a.peak_value, a.peak_at, a.resolved_by))
        for e in await alert_history(pool, a.id):
            note = e.note.replace(device, "<gauge>")
            out.append((e.event, e.observed_at, e.from_status, e.to_status, e.level, e.value, note))
    level = await pool.fetchval("SELECT level FROM flood_levels WHERE device_id = $1", device)
    return [*out, ("level", level)]


@pytest.mark.parametrize("order", ["in order", "shuffled"])
@pytest.mark.parametrize("scenario", ["episode", "still rising"])
async def test_a_backlog_judged_from_its_span_raises_what_announcing_each_reading_raised(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str, order: str, scenario: str
) -> None:
    """The same two hours stored on two gauges in one batch each. One gauge's evaluator gets
    every reading announced (what ingest did before spans); the other gets what ingest
    announces now (oldest and newest, marked, and the span read back). The flood level and
    rate-of-rise alarms, their journals, peaks and the gauge's level come out the same."""
    every, spanned = f"AWLR-EVERY-{uid}", f"AWLR-SPAN-{uid}"
    await register(pool, "flood_gauge", [every, spanned])
    th = FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10, dwell_min=10)
    config = AlertConfig(
        flood_stations={every: th, spanned: th}, rise_cm_per_h=200, evaluate_every_s=3600
    )
    received = datetime.now(UTC)
    start = received.replace(microsecond=0) - timedelta(hours=2)
    levels = _levels(len(order))
    if scenario == "still rising":
        levels = levels[:50]  # the buffer ends as the river climbs 5 cm a minute
    outcomes = []
    for device in (every, spanned):
        batch = [
            Reading(device, "flood_gauge", start + timedelta(minutes=i), {"water_level": v})
            for i, v in enumerate(levels)
        ]
        if order == "shuffled":
            random.Random(9).shuffle(batch)
        await write_batch(pool, kinds, batch, [], received)
        sink = AlertSink(pool, Dispatcher([]), tz="Asia/Jakarta")
        await sink.load()
        evaluator = AlertEvaluator(pool, kinds, config, sink)
        if device == every:
            await evaluator.on_readings(reading_items(batch, received))
        else:
            heard = [decode_notification(p) for p in batch_events(batch, received, kinds).payloads]
            assert [k for k, _ in heard] == ["readings", "backlog"]
            announced = heard[0][1]
            assert [(it["time"], it.get("backlog")) for it in announced] == [
                (start.isoformat(), True),
                ((start + timedelta(minutes=len(levels) - 1)).isoformat(), True),
            ]
            await evaluator.on_readings(announced)
            await evaluator.on_backlog(heard[1][1])
            assert evaluator.stats.items == 2 + len(levels)
        outcomes.append(await _history(pool, device))
    assert outcomes[1] == outcomes[0]
    raised = [row[:2] for row in outcomes[0] if row[0] in ("flood_level", "flood_rise")]
    if scenario == "episode":  # one alarm for the whole flood, over by the end
        assert raised == [("flood_level", "resolved")]
    else:
        assert sorted(raised) == [("flood_level", "open"), ("flood_rise", "open")]


async def test_a_resent_backlog_is_not_judged_again(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """The read-back takes the readings the batch stored (its received_at): a device that
    resends a backlog already stored announces a span with nothing new in it."""
    g = f"AWLR-RESEND-{uid}"
    await register(pool, "flood_gauge", [g])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    batch = [
        Reading(g, "flood_gauge", start + timedelta(minutes=i), {"water_level": 10.0 + i})
        for i in range(20)
    ]
    first, again = datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=1)
    await write_batch(pool, kinds, batch, [], first)
    await write_batch(pool, kinds, [*batch, *_gauge(g, [])], [], again)
    spans = [Span(g, "flood_gauge", batch[0].time, batch[-1].time)]
    gauge = kinds["flood_gauge"]
    stored = [StoredSpan(s.device_id, s.first, s.last, first) for s in spans]
    assert [it["values"]["water_level"] for it in await backlog_readings(pool, gauge, stored)] == [
        10.0 + i for i in range(20)
    ]
    resent = [StoredSpan(s.device_id, s.first, s.last, again) for s in spans]
    assert await backlog_readings(pool, gauge, resent) == []


async def test_a_backlog_with_a_flood_peak_raises_and_resolves_the_level_alert_through_ingest(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """Two hours buffered on a gauge, the river up past AWAS and back down, arrive in one
    message: its oldest and newest reading are announced with the span, the evaluator reads
    every water level back and judges the whole episode (one alert, raised and resolved),
    and the gauge ends NORMAL."""
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
    spans: list[dict[str, object]] = []
    listener = await asyncpg.connect(settings.database_url)

    def heard(*args: object) -> None:
        kind, items = decode_notification(str(args[3]))
        announced.extend(it for it in items if kind == "readings" and it["device_id"] == g)
        spans.extend(it for it in items if kind == "backlog" and it["device_id"] == g)

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
    assert water == [levels[0], levels[-1]]
    assert [(it["first"], it["last"]) for it in spans] == [
        (datetime.fromisoformat(body[0]["ts"]).isoformat(), body[-1]["ts"])  # type: ignore[arg-type]
    ]
