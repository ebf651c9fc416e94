"""A demo fleet for the operations-page tests: devices across Muara Enim's districts."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.vocabulary import FloodLevel, Rule
from core.kinds import builtin_kinds
from core.storage.alerts import set_level
from core.storage.api_keys import create_api_key
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.flood_thresholds import FloodBands, set_flood_bands
from core.storage.pool import create_pool
from core.wire import Reading, Value
from tests.support.operations import open_alert

DISTRICTS = json.loads(
    (Path(__file__).resolve().parents[2] / "api/static/ops/districts.json").read_text()
)["districts"]
GAUGES = [
    ("Sukaraja", 180.0, 300, 450, 520),
    ("Sungai Rotan", 330.0, 250, 320, 480),
    ("Pinang Belarik", 120.0, 200, 300, 400),
]  # name, now cm, WASPADA, SIAGA, AWAS


@dataclass
class Fleet:
    gauges: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    alert_id: int = 0
    operator_key: str = ""


def _values(kind: str, rng: random.Random, i: int) -> dict[str, Value]:
    if kind == "streetlight":
        return {
            "power_state": "on",
            "active_power": 60.0,
            "energy": 100.0 + i,
            "lamp_failure": i % 17 == 0,
        }
    if kind == "network_node":
        return {"uptime": 86400, "latency": rng.uniform(20, 90), "packet_loss": 0.2}
    return {"water_level": rng.uniform(50, 150), "rain": 0.0}


async def _seed(dsn: str, n: int, seed: int, alerts: bool) -> Fleet:
    rng = random.Random(seed)
    kinds = builtin_kinds()
    pool = await create_pool(dsn, min_size=1, max_size=2)
    fleet = Fleet()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        rows: list[DeviceRow] = []
        readings: list[Reading] = []
        for i, (name, cm, *_bands) in enumerate(GAUGES):
            d = DISTRICTS[i * 5]
            gid = f"AWLR-{i + 1:03d}"
            fleet.gauges.append(gid)
            rows.append(
                DeviceRow(gid, "flood_gauge", name, "active", d["name"], d["lat"], d["lon"])
            )
            for step in range(96):  # a day of 15-minute levels rising to ``cm``
                at = now - timedelta(minutes=15 * (96 - step))
                level = cm * (0.55 + 0.45 * step / 95) + rng.uniform(-3, 3)
                readings.append(
                    Reading(gid, "flood_gauge", at, {"water_level": level, "rain": 1.0})
                )
            readings.append(Reading(gid, "flood_gauge", now, {"water_level": cm, "rain": 2.0}))
        for i in range(n - len(GAUGES)):
            kind = ("streetlight", "streetlight", "streetlight", "network_node")[i % 4]
            d = DISTRICTS[i % len(DISTRICTS)]
            did = f"{'PJU' if kind == 'streetlight' else 'NODE'}-{i:05d}"
            fleet.devices.append(did)
            lat = d["lat"] + rng.gauss(0, 0.03)
            lon = d["lon"] + rng.gauss(0, 0.03)
            rows.append(DeviceRow(did, kind, f"{d['name']} {i}", "active", d["name"], lat, lon))
            if i % 23 != 5:  # a few never reported
                at = now - timedelta(hours=3 if i % 31 == 7 else 0, seconds=i % 50)
                readings.append(Reading(did, kind, at, _values(kind, rng, i)))
        await upsert_devices(pool, rows)
        await set_flood_bands(
            pool, [FloodBands(g, *GAUGES[i][2:]) for i, g in enumerate(fleet.gauges)]
        )
        for start in range(0, len(readings), 5000):
            await write_batch(pool, kinds, readings[start : start + 5000], [], now)
        if alerts:
            await set_level(pool, fleet.gauges[1], "SIAGA")
            alert, _ = await open_alert(
                pool,
                Rule.FLOOD_LEVEL,
                fleet.gauges[1],
                device_id=fleet.gauges[1],
                level=FloodLevel.SIAGA,
                message="Sungai Rotan 330 cm: SIAGA (batas 320 cm)",
                details={"level": "SIAGA", "value": 330.0},
                value=330.0,
            )
            fleet.alert_id = alert.id
            await open_alert(
                pool,
                Rule.NODE_LATENCY,
                fleet.devices[3],
                device_id=fleet.devices[3],
                message=f"{fleet.devices[3]}: latensi tinggi 850 ms (15 menit)",
            )
            _, fleet.operator_key = await create_api_key(pool, "meja-operasi", "operator")
    finally:
        await pool.close()
    return fleet


def seed_fleet(dsn: str, n: int, *, seed: int = 7, alerts: bool = True) -> Fleet:
    return asyncio.run(_seed(dsn, n, seed, alerts))
