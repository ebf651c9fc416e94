"""Bad messages go to the dead-letter table, verbatim and with a reason; good ones still land."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow, upsert_devices
from core.wire import Topics
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_each_kind_of_bad_message_is_dead_lettered_and_ingest_goes_on(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    gauge = f"AWLR-{uid}"
    retired = f"AWLR-OLD-{uid}"
    await upsert_devices(
        pool,
        [
            DeviceRow(gauge, "flood_gauge", "Sukaraja", "active", "Muara Enim", -3.66, 103.8),
            DeviceRow(retired, "flood_gauge", "old", "decommissioned", "Muara Enim", -3.66, 103.8),
        ],
    )
    t = Topics(settings.topic_root)
    now = datetime.now(UTC).replace(microsecond=0)

    def good(i: int) -> tuple[str, bytes]:
        ts = (now - timedelta(minutes=10 - i)).isoformat()
        return t.telemetry("flood_gauge", gauge), json.dumps(
            {"ts": ts, "water_level": 100 + i}
        ).encode()

    bad: dict[str, tuple[str, bytes]] = {
        "not_json": (t.telemetry("flood_gauge", gauge), b"\x00\x01garbage{"),
        "invalid": (
            t.telemetry("flood_gauge", gauge),
            json.dumps({"ts": now.isoformat(), "water_level": -9999}).encode(),
        ),
        "future": (
            t.telemetry("flood_gauge", gauge),
            json.dumps({"ts": (now + timedelta(days=2)).isoformat(), "water_level": 1}).encode(),
        ),
        "unknown_device": (
            t.telemetry("flood_gauge", f"NOPE-{uid}"),
            json.dumps({"ts": now.isoformat(), "water_level": 1}).encode(),
        ),
        "decommissioned": (
            t.telemetry("flood_gauge", retired),
            json.dumps({"ts": now.isoformat(), "water_level": 1}).encode(),
        ),
        "wrong_kind": (
            t.telemetry("streetlight", gauge),
            json.dumps({"ts": now.isoformat(), "power_state": "on"}).encode(),
        ),
    }
    messages = [good(0), *bad.values(), good(1)]  # good messages on both sides of the bad
    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(publish_all, settings.mqtt_port, messages)
        rows = await eventually(
            lambda: pool.fetch(
                "SELECT topic, device_id, code, reason, payload FROM dead_letters"
                " WHERE topic LIKE '%' || $1 || '%'",
                uid,
            ),
            lambda rows: len(rows) >= len(bad),
        )
        stored = await eventually(
            lambda: pool.fetch(
                "SELECT water_level FROM readings_flood_gauge WHERE device_id = $1 ORDER BY time",
                gauge,
            ),
            lambda rows: len(rows) >= 2,
        )
    assert [r["water_level"] for r in stored] == [100.0, 101.0]
    by_code = {r["code"]: r for r in rows}
    assert set(by_code) == set(bad)
    for code, (topic, payload) in bad.items():
        row = by_code[code]
        assert row["topic"] == topic
        assert bytes(row["payload"]) == payload, "raw bytes must be kept untouched"
        assert row["reason"]
    assert "is not registered" in by_code["unknown_device"]["reason"]
    assert "outside the valid range" in by_code["invalid"]["reason"]
    assert "registered as 'flood_gauge'" in by_code["wrong_kind"]["reason"]
    retired_reason = by_code["decommissioned"]["reason"]
    assert "register the replacement device under its own label" in retired_reason
    assert "re-activate" not in retired_reason, "decommissioning is final in the registry"


async def test_redelivered_and_resent_readings_are_stored_once(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    gauge = f"AWLR-{uid}"
    await upsert_devices(pool, [DeviceRow(gauge, "flood_gauge", "g", "active", None, None, None)])
    topic = Topics(settings.topic_root).telemetry("flood_gauge", gauge)
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    payload = json.dumps({"ts": ts.isoformat(), "water_level": 250.0}).encode()
    async with running_ingest(settings, pool, kinds) as service:

        async def received() -> int:
            return service.stats.received

        await asyncio.to_thread(publish_all, settings.mqtt_port, [(topic, payload)] * 5)
        await eventually(received, lambda n: n >= 5)
    count = await pool.fetchval(
        "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", gauge
    )
    assert count == 1
    assert service.stats.duplicates >= 4


async def test_latest_state_only_moves_forward(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    gauge = f"AWLR-{uid}"
    await upsert_devices(pool, [DeviceRow(gauge, "flood_gauge", "g", "active", None, None, None)])
    topic = Topics(settings.topic_root).telemetry("flood_gauge", gauge)
    now = datetime.now(UTC).replace(microsecond=0)
    newest = {"ts": now.isoformat(), "water_level": 300.0}
    backlog = [
        {"ts": (now - timedelta(minutes=m)).isoformat(), "water_level": float(m)}
        for m in range(60, 0, -5)
    ]
    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(
            publish_all, settings.mqtt_port, [(topic, json.dumps(newest).encode())]
        )
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", gauge
            ),
            lambda n: n == 1,
        )
        await asyncio.to_thread(
            publish_all, settings.mqtt_port, [(topic, json.dumps(backlog).encode())]
        )
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", gauge
            ),
            lambda n: n == 1 + len(backlog),
        )
    state = await pool.fetchrow(
        'SELECT time, "values" FROM latest_state WHERE device_id = $1', gauge
    )
    assert state is not None
    assert state["time"] == now
    assert json.loads(state["values"])["water_level"] == 300.0
