"""Late backlogs, floods of bad messages and device status, through the real broker."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.device_status import device_statuses
from core.storage.devices import DeviceRow, upsert_devices
from core.wire import Topics
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_day_of_buffered_readings_out_of_order_is_stored_and_latest_state_holds(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    node = f"NODE-{uid}"
    await upsert_devices(pool, [DeviceRow(node, "network_node", "n", "active", None, None, None)])
    topic = Topics(settings.topic_root).telemetry("network_node", node)
    now = datetime.now(UTC).replace(microsecond=0)
    newest = {"ts": now.isoformat(), "latency": 42.0, "clients": 7}
    day = [
        {"ts": (now - timedelta(minutes=m)).isoformat(), "latency": float(m), "clients": m % 50}
        for m in range(1, 24 * 60 + 1)
    ]
    random.Random(3).shuffle(day)
    backlog = [(topic, json.dumps(day[i : i + 60]).encode()) for i in range(0, len(day), 60)]
    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(
            publish_all, settings.mqtt_port, [(topic, json.dumps(newest).encode())]
        )
        await eventually(lambda: count(pool, "readings_network_node", node), lambda n: n == 1)
        await asyncio.to_thread(publish_all, settings.mqtt_port, backlog)
        await eventually(
            lambda: count(pool, "readings_network_node", node), lambda n: n == 1 + len(day)
        )
    state = await pool.fetchrow(
        'SELECT time, "values" FROM latest_state WHERE device_id = $1', node
    )
    assert state is not None
    assert state["time"] == now
    assert json.loads(state["values"]) == {"latency": 42.0, "clients": 7}
    total = await pool.fetchval(
        "SELECT sum(latency) FROM readings_network_node WHERE device_id = $1 AND time < $2",
        node,
        now,
    )
    assert total == sum(float(m) for m in range(1, 24 * 60 + 1))


async def count(pool: asyncpg.Pool, table: str, device: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table} WHERE device_id = $1", device))


async def test_ten_thousand_bad_messages_are_dead_lettered_and_good_ones_stored(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    # Every bad message kept: the per-device quota is proven in test_ingest_abuse.py.
    settings = settings.model_copy(
        update={"ingest_max_payload_bytes": 2048, "ingest_dead_letter_quota": 100_000}
    )
    gauges = [f"AWLR-{uid}-{i}" for i in range(20)]
    retired = f"AWLR-OLD-{uid}"
    await upsert_devices(
        pool,
        [DeviceRow(g, "flood_gauge", "g", "active", None, None, None) for g in gauges]
        + [DeviceRow(retired, "flood_gauge", "r", "decommissioned", None, None, None)],
    )
    t = Topics(settings.topic_root)
    now = datetime.now(UTC).replace(microsecond=0)
    iso = now.isoformat()

    def gauge_topic(i: int) -> str:
        return t.telemetry("flood_gauge", gauges[i % len(gauges)])

    makers = {
        "not_json": lambda i: (gauge_topic(i), b'{"ts": "' + iso.encode() + b'", water'),
        "nan": lambda i: (gauge_topic(i), b'{"ts":"%s","water_level":NaN}' % iso.encode()),
        "infinity": lambda i: (gauge_topic(i), b'{"ts":"%s","rain":-Infinity}' % iso.encode()),
        "too_large": lambda i: (
            gauge_topic(i),
            json.dumps([{"ts": iso, "water_level": 1.0}] * 80).encode(),
        ),
        "wrong_type": lambda i: (
            gauge_topic(i),
            json.dumps({"ts": iso, "water_level": "high"}).encode(),
        ),
        "out_of_range": lambda i: (gauge_topic(i), json.dumps({"ts": iso, "rain": 9999}).encode()),
        "wrong_kind": lambda i: (
            t.telemetry("streetlight", gauges[i % len(gauges)]),
            json.dumps({"ts": iso, "power_state": "on"}).encode(),
        ),
        "unknown_device": lambda i: (
            t.telemetry("flood_gauge", f"NOPE-{uid}-{i % 7}"),
            json.dumps({"ts": iso, "water_level": 1.0}).encode(),
        ),
        "decommissioned": lambda i: (
            t.telemetry("flood_gauge", retired),
            json.dumps({"ts": iso, "water_level": 1.0}).encode(),
        ),
        "future": lambda i: (
            gauge_topic(i),
            json.dumps({"ts": (now + timedelta(days=1)).isoformat(), "rain": 1.0}).encode(),
        ),
        "too_old": lambda i: (
            gauge_topic(i),
            json.dumps({"ts": (now - timedelta(days=800)).isoformat(), "rain": 1.0}).encode(),
        ),
        "bad_topic": lambda i: (f"{t.root}/flood_gauge/bad!{uid}/telemetry", b"{}"),
    }
    expected_code = {
        "not_json": "not_json",
        "nan": "not_json",
        "infinity": "not_json",
        "too_large": "too_large",
        "wrong_type": "invalid",
        "out_of_range": "invalid",
        "wrong_kind": "wrong_kind",
        "unknown_device": "unknown_device",
        "decommissioned": "decommissioned",
        "future": "future",
        "too_old": "too_old",
        "bad_topic": "bad_topic",
    }
    names = list(makers)
    bad = [makers[names[i % len(names)]](i) for i in range(10_000)]
    good = [
        (
            gauge_topic(i),
            json.dumps(
                {"ts": (now - timedelta(seconds=i + 1)).isoformat(), "water_level": 100.0}
            ).encode(),
        )
        for i in range(2000)
    ]
    messages: list[tuple[str, bytes]] = []
    for i in range(10_000):
        messages.append(bad[i])
        if i % 5 == 0:
            messages.append(good[i // 5])
    want = Counter(expected_code[names[i % len(names)]] for i in range(10_000))

    async def letters() -> list[asyncpg.Record]:
        return await pool.fetch(
            "SELECT code, reason FROM dead_letters WHERE topic LIKE '%' || $1 || '%'", uid
        )

    async with running_ingest(settings, pool, kinds) as service:
        await asyncio.to_thread(publish_all, settings.mqtt_port, messages)
        rows = await eventually(letters, lambda rows: len(rows) >= 10_000, within=60)
        stored = await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = ANY($1::text[])",
                gauges,
            ),
            lambda n: n >= 2000,
            within=60,
        )
        assert service.stats.received >= len(messages)  # (+ retained statuses of other tests)
    assert stored == 2000
    assert Counter(r["code"] for r in rows) == want
    assert all(len(r["reason"]) > 10 for r in rows)
    reasons = {r["code"]: r["reason"] for r in rows}
    assert "NaN" in " ".join(r["reason"] for r in rows if r["code"] == "not_json")
    assert "2048-byte limit" in reasons["too_large"]
    assert "older than the retention period" in reasons["too_old"]


async def test_status_birth_and_last_will_are_stored_per_device(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    early, dying = f"NODE-A-{uid}", f"NODE-B-{uid}"
    await upsert_devices(
        pool,
        [DeviceRow(d, "network_node", "n", "active", None, None, None) for d in (early, dying)],
    )
    t = Topics(settings.topic_root)
    # Announced (retained) before ingest ever ran: ingest learns it from the retained copy.
    await asyncio.to_thread(
        publish_retained, settings.mqtt_port, t.status("network_node", early), b"online"
    )
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uid}")
    device.will_set(t.status("network_node", dying), b"offline", qos=1, retain=True)
    async with running_ingest(settings, pool, kinds):
        await eventually(lambda: device_statuses(pool, [early]), lambda s: early in s)
        device.connect("127.0.0.1", settings.mqtt_port, keepalive=5)
        device.loop_start()
        device.publish(
            t.status("network_node", dying), b"online", qos=1, retain=True
        ).wait_for_publish(10)
        await eventually(
            lambda: device_statuses(pool, [dying]), lambda s: dying in s and s[dying].online
        )
        device.loop_stop()
        sock = device.socket()
        assert sock is not None
        sock.close()  # the device drops off the network: the broker publishes its will
        statuses = await eventually(
            lambda: device_statuses(pool, [early, dying]),
            lambda s: not s[dying].online,
        )
    assert statuses[early].online
    assert statuses[dying].kind == "network_node"


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()
