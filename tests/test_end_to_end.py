"""The thin path through real processes: MQTT -> ingest -> PostgreSQL -> API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.wire import Topics
from tests.support.mqtt import publish_all
from tests.support.procs import Proc, settings_env


@pytest.fixture
def stack(database_url: str, broker: LocalMosquitto, tmp_path: Path, uid: str) -> Iterator[str]:
    port = free_port()
    env = settings_env(database_url, broker.port, api_port=str(port), ingest_client_id=f"e2e-{uid}")
    ingest = Proc(["ingest"], env, tmp_path / "ingest.log")
    api = Proc(["api"], env, tmp_path / "api.log")
    try:
        ingest.wait_for(r"subscribed to ")
        api.wait_for(r"Uvicorn running on")
        yield f"http://127.0.0.1:{port}"
    finally:
        assert ingest.stop() == 0, ingest.output()
        api.stop()


def test_simulated_devices_reach_the_api(
    stack: str, database_url: str, broker: LocalMosquitto, tmp_path: Path
) -> None:
    sim = Proc(
        ["simulate", "--per-kind", "2", "--rounds", "2", "--interval", "0.2"],
        settings_env(database_url, broker.port),
        tmp_path / "sim.log",
    )
    assert sim.wait(60) == 0, sim.output()
    assert "published 12 messages" in sim.output()
    with httpx.Client(base_url=stack, timeout=10) as http:
        for device in ("SIM-AWLR-0001", "SIM-PJU-0002", "SIM-NODE-0001"):
            body = _poll(http, f"/devices/{device}/readings", lambda b: len(b["readings"]) >= 2)
            assert len(body["readings"]) == 2


def test_published_reading_comes_back_with_same_values_and_time(
    stack: str, database_url: str, broker: LocalMosquitto, uid: str
) -> None:
    import asyncio

    from core.storage.devices import DeviceRow, upsert_devices
    from core.storage.pool import create_pool

    device = f"AWLR-E2E-{uid}"

    async def register() -> None:
        pool = await create_pool(database_url)
        await upsert_devices(
            pool,
            [DeviceRow(device, "flood_gauge", "Sukaraja", "active", "Tanjung Agung", -3.9, 103.81)],
        )
        await pool.close()

    asyncio.run(register())
    ts = datetime(2026, 11, 28, 2, 15, 30, 250000, tzinfo=UTC)
    ts = min(ts, datetime.now(UTC) - timedelta(minutes=1))
    sent = {
        "ts": ts.isoformat(),
        "water_level": 412.5,
        "rain": 12.25,
        "battery_v": 12.9,
        "rssi": -77,
        "power_source": "PLTS",
    }
    topic = Topics().telemetry("flood_gauge", device)
    publish_all(broker.port, [(topic, json.dumps(sent).encode())])
    with httpx.Client(base_url=stack, timeout=10) as http:
        start = (ts - timedelta(seconds=1)).isoformat()
        end = (ts + timedelta(seconds=1)).isoformat()
        body = _poll(
            http,
            f"/devices/{device}/readings",
            lambda b: len(b["readings"]) == 1,
            params={"from": start, "to": end},
        )
    got = body["readings"][0]
    assert datetime.fromisoformat(got.pop("time")) == ts
    got.pop("received_at")
    assert got == {k: v for k, v in sent.items() if k != "ts"}
    assert body["kind"] == "flood_gauge"


def test_health_reports_storage_path_and_broker(stack: str, storage_path: str) -> None:
    r = httpx.get(f"{stack}/healthz", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["storage_path"] == storage_path
    assert body["database"]["ok"]
    assert body["broker"]["ok"]


def _poll(http: httpx.Client, path: str, ok, params=None, timeout: float = 20):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while True:
        r = http.get(path, params=params)
        if r.status_code == 200 and ok(r.json()):
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"GET {path}: {r.status_code} {r.text[:500]}")
        time.sleep(0.1)
