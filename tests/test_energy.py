"""Energy per night from the lights' power readings, through the rollups, over the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.registry import update_device
from core.storage.rollups import refresh_rollups
from core.wire import DecodeLimits, decode_telemetry, encode_telemetry
from simulators.solar import WIB
from tests.support.api import api_client

pytestmark = pytest.mark.anyio


async def test_a_lights_night_is_its_hourly_power_and_dimming_shows_as_a_saving(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    # a fixed night far in the past, so other tests' lights never share it
    dusk = datetime(2025, 3, 3, 18, 0, tzinfo=WIB)
    feeder = f"F-E-{uid}"
    rows = [DeviceRow(f"PJU-E{i}-{uid}", "streetlight", "l", "active", f"D-{uid}", -3.7, 103.8)
            for i in (1, 2)]  # fmt: skip
    await upsert_devices(pool, rows)
    async with pool.acquire() as conn:
        for r in rows:
            await update_device(conn, r.id, {"mounting": {"feeder": feeder}})
    kind = kinds["streetlight"]
    readings = []
    for row, dimmed in zip(rows, (False, True), strict=True):
        items = []
        for h in range(12):  # 18:00 to 05:45: one reading every 15 min
            level = 50.0 if dimmed and 5 <= h < 10 else 100.0
            for q in range(4):
                t = dusk + timedelta(hours=h, minutes=15 * q)
                items.append({"ts": t, "power_state": "on" if level == 100 else "low",
                              "dim_pct": level, "active_power": 0.9 * level})  # fmt: skip
        items.append({"ts": dusk + timedelta(hours=12), "power_state": "off", "dim_pct": 0.0,
                      "active_power": 0.0})  # fmt: skip
        got, bad = decode_telemetry(kind, row.id, encode_telemetry(items), datetime.now(UTC),
                                    DecodeLimits())  # fmt: skip
        assert bad == []
        readings += got
    await write_batch(pool, kinds, readings, [], datetime.now(UTC))
    while (await refresh_rollups(pool, kinds)).buckets:
        pass
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        by_light = await http.get("/energy", params={"from": "2025-03-03", "group": "device"})
        by_feeder = await http.get("/energy", params={"from": "2025-03-03", "group": "feeder"})
        too_long = await http.get("/energy", params={"from": "2025-01-01", "to": "2025-06-01"})
    assert by_light.status_code == 200, by_light.text
    nights = {n["key"]: n for n in by_light.json()["nights"] if n["key"].endswith(uid)}
    full, dimmed = nights[rows[0].id], nights[rows[1].id]
    assert full["kwh"] == pytest.approx(12 * 0.090)  # 90 W for 12 hours
    assert full["saving_pct"] == 0.0
    assert dimmed["kwh"] == pytest.approx(7 * 0.090 + 5 * 0.045)
    assert dimmed["kwh_full"] == pytest.approx(12 * 0.090)
    assert dimmed["saving_pct"] == pytest.approx(20.8, abs=0.05)
    [fed] = [n for n in by_feeder.json()["nights"] if n["key"] == feeder]
    assert fed["lights"] == 2
    assert fed["kwh"] == pytest.approx(full["kwh"] + dimmed["kwh"])
    assert fed["night"] == "2025-03-03"
    assert too_long.status_code == 422
