"""The energy a dimming schedule saves, measured on a simulated week of street lights.

Two feeders of identical simulated lights (same rated power, same position) run a week:
one on the ``hemat`` schedule (100 % at dusk, 50 % from 23:00 to 04:30 WIB, 100 % until
dawn), one at full brightness from dusk to dawn. Their readings go through the storage
write path, the hourly rollups are refreshed, and the per-night energy query
(:func:`core.storage.energy.night_energy`) gives kWh per light-night for each feeder and
the saving. Also printed: the query's own estimate of the saving for the scheduled feeder
against full brightness (from its dim levels alone), which the measured twin checks.

    python -m bench energy            # 40 lights, 7 nights (about 20 s)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from commands.schedules import HEMAT, Schedule, Step
from core.kinds import builtin_kinds
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.energy import night_energy
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.storage.registry import update_device
from core.storage.rollups import refresh_rollups
from core.wire import DecodeLimits, Reading, decode_telemetry, encode_telemetry
from simulators.fleet import as_sim_device
from simulators.models.streetlight import StreetlightModel
from simulators.solar import WIB
from simulators.world import Conditions

RESULTS = Path(__file__).parent / "results" / "energy.json"
FULL = Schedule("penuh", (Step("dusk", 100.0), Step("dawn", None)))
START = datetime(2026, 11, 23, 12, 0, tzinfo=WIB)
NIGHTS = 7
LIGHTS_PER_FEEDER = 20
LAT, LON = -3.66, 103.78


def _readings(rows: list[DeviceRow], schedule: Schedule) -> list[Reading]:
    kind = builtin_kinds()["streetlight"]
    limits = DecodeLimits(max_future=timedelta(days=3650))
    now = datetime.now(UTC)
    end = START + timedelta(days=NIGHTS)
    out: list[Reading] = []
    for i, row in enumerate(rows):
        model = StreetlightModel(as_sim_device(row, i + 1), seed=7)
        model.rated_w = 90.0
        model.schedule = schedule
        items = []
        t = START
        while t < end:
            step, t = model.step(t, Conditions())
            items += step
        readings, rejected = decode_telemetry(kind, row.id, encode_telemetry(items), now, limits)
        assert not rejected, rejected[:1]
        out += readings
    return out


async def _run(url: str) -> dict[str, object]:
    kinds = builtin_kinds()
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        feeders = {"F-HEMAT": HEMAT, "F-PENUH": FULL}
        written = 0
        for feeder, schedule in feeders.items():
            rows = [
                DeviceRow(f"PJU-{feeder}-{i:03d}", "streetlight", f"Lampu {i}", "active",
                          "Muara Enim", LAT, LON)
                for i in range(LIGHTS_PER_FEEDER)
            ]  # fmt: skip
            await upsert_devices(pool, rows)
            async with pool.acquire() as conn:
                for r in rows:
                    await update_device(conn, r.id, {"mounting": {"feeder": feeder}})
            readings = _readings(rows, schedule)
            for i in range(0, len(readings), 5000):
                await write_batch(pool, kinds, readings[i : i + 5000], [], datetime.now(UTC))
            written += len(readings)
        while (await refresh_rollups(pool, kinds)).buckets:
            pass
        t0 = time.perf_counter()
        found = await night_energy(pool, start=START, end=START + timedelta(days=NIGHTS),
                                   group="feeder", limit=1000)  # fmt: skip
        query_ms = round((time.perf_counter() - t0) * 1000, 1)
    finally:
        await pool.close()
    per = {}
    for feeder in feeders:
        nights = [n for n in found if n.key == feeder]
        kwh = sum(n.kwh for n in nights)
        full = sum(n.kwh_full for n in nights)
        light_nights = sum(n.lights for n in nights)
        per[feeder] = {
            "nights": len(nights),
            "kwh": round(kwh, 2),
            "kwh_per_light_night": round(kwh / light_nights, 4),
            "estimated_full_kwh": round(full, 2),
        }
    hemat, penuh = per["F-HEMAT"], per["F-PENUH"]
    measured = 100 * (1 - hemat["kwh"] / penuh["kwh"])
    estimated = 100 * (1 - hemat["kwh"] / hemat["estimated_full_kwh"])
    return {
        "lights_per_feeder": LIGHTS_PER_FEEDER,
        "nights": NIGHTS,
        "from": START.isoformat(),
        "readings": written,
        "feeders": per,
        "saving_measured_pct": round(measured, 1),
        "saving_estimated_pct": round(estimated, 1),
        "query_ms": query_ms,
    }


def main() -> int:
    server = os.environ.get(
        "CITYSENSE_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"citysense_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        storage = migrate(url, retention_days=730).storage_path
        out = asyncio.run(_run(url))
        out["storage_path"] = storage
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    h, p = out["feeders"]["F-HEMAT"], out["feeders"]["F-PENUH"]  # type: ignore[index]
    print(
        f"{out['lights_per_feeder']} x 90 W lights per feeder, {out['nights']} nights"
        f" ({out['readings']} readings, {out['storage_path']}):\n"
        f"  full brightness: {p['kwh_per_light_night']} kWh per light-night\n"
        f"  hemat schedule:  {h['kwh_per_light_night']} kWh per light-night\n"
        f"  saving: {out['saving_measured_pct']} % measured against the full-brightness twin,"
        f" {out['saving_estimated_pct']} % estimated from the dim levels alone\n-> {RESULTS}"
    )
    return 0
