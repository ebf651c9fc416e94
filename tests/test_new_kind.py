"""A fourth kind needs only its declaration and one migration to be ingested and queried."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.app import create_app
from core.kinds import DeviceKind, FieldType, KindRegistry, TelemetryField
from core.settings import Settings
from core.storage.ddl import readings_table_sql
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.migrate import Migration, migrate
from core.wire import Topics
from tests.support.api import api_client
from tests.support.ingest import running_ingest
from tests.support.mqtt import publish_all

pytestmark = pytest.mark.anyio

AIR_QUALITY = DeviceKind(
    name="air_quality",
    label="Air quality monitor",
    interval_s=600,
    fields=(
        TelemetryField("pm25", FieldType.FLOAT, "µg/m³", "PM2.5", valid=(0, 1000)),
        TelemetryField("co2", FieldType.INT, "ppm", "CO2", valid=(0, 10000)),
        TelemetryField("fan", FieldType.ENUM, None, "Fan", choices=("on", "off")),
    ),
)


async def test_throwaway_kind_is_ingested_and_served(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    kinds = kinds.with_kind(AIR_QUALITY)
    result = await asyncio.to_thread(
        migrate,
        settings.database_url,
        retention_days=730,
        extra=[Migration(9001, "air_quality", readings_table_sql(AIR_QUALITY))],
    )
    assert result.applied == [9001]
    device = f"AQ-{uid}"
    await upsert_devices(pool, [DeviceRow(device, "air_quality", "aq", "active", None, None, None)])
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    payload = json.dumps({"ts": ts.isoformat(), "pm25": 35.5, "co2": 612, "fan": "on"}).encode()
    async with running_ingest(settings, pool, kinds):
        await asyncio.to_thread(
            publish_all, settings.mqtt_port, [(Topics().telemetry("air_quality", device), payload)]
        )
        for _ in range(200):
            n = await pool.fetchval(
                "SELECT count(*) FROM readings_air_quality WHERE device_id = $1", device
            )
            if n:
                break
            await asyncio.sleep(0.05)

    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.get(f"/devices/{device}/readings")
        assert r.status_code == 200, r.text
        schema = (await http.get("/openapi.json")).json()["components"]["schemas"]
    assert schema["AirQualityReading"]["properties"]["co2"]["description"] == "CO2 [ppm]"
    readings = r.json()["readings"]
    assert [(x["pm25"], x["co2"], x["fan"]) for x in readings] == [(35.5, 612, "on")]
