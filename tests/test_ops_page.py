"""The live operations page in headless Chromium, against real API and ingest processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.storage.alerts import Alert, get_alert
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import Topics
from tests.support.browser import chromium
from tests.support.mqtt import publish_all
from tests.support.ops_fleet import Fleet, seed_fleet
from tests.support.procs import Proc, settings_env
from tests.support.services import scratch_database

DOCS = Path(__file__).resolve().parents[1] / "docs"


@dataclass
class Stack:
    url: str
    db: str
    env: dict[str, str]
    logs: Path
    api: Proc

    def restart_api(self) -> None:
        self.api = Proc(["api"], self.env, self.logs / f"api-{time.monotonic_ns()}.log")
        self.api.wait_for(r"Uvicorn running on")


@pytest.fixture
def ops_stack(
    pg_server_url: str, broker: LocalMosquitto, tmp_path: Path, uid: str
) -> Iterator[tuple[Stack, Fleet]]:
    """A database of its own (the map shows every device), a seeded fleet, ingest and API."""
    with scratch_database(pg_server_url, prefix="citysense_ops") as db:
        migrate(db, retention_days=730)
        fleet = seed_fleet(db, 160)
        port = free_port()
        env = settings_env(db, broker.port, api_port=str(port), ingest_client_id=f"ops-{uid}")
        ingest = Proc(["ingest"], env, tmp_path / "ingest.log")
        api = Proc(["api"], env, tmp_path / "api.log")
        stack = Stack(f"http://127.0.0.1:{port}", db, env, tmp_path, api)
        try:
            ingest.wait_for(r"subscribed to ")
            api.wait_for(r"Uvicorn running on")
            yield stack, fleet
        finally:
            stack.api.stop()
            assert ingest.stop() == 0, ingest.output()


def _publish_level(port: int, gauge: str, cm: float) -> None:
    sent = {"ts": datetime.now(UTC).isoformat(), "water_level": cm, "rain": 4.5}
    topic = Topics().telemetry("flood_gauge", gauge)
    publish_all(port, [(topic, json.dumps(sent).encode())])


def _open(page: Page, url: str) -> None:
    page.goto(url + "/ops")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=15_000)


def test_live_page_follows_mqtt_acknowledges_and_survives_a_dropped_stream(
    ops_stack: tuple[Stack, Fleet], broker: LocalMosquitto, artifacts_dir: Path
) -> None:
    stack, fleet = ops_stack
    gauge = fleet.gauges[0]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, stack.url)

        # Bahasa Indonesia by default; every device on the map; the open alerts listed.
        assert page.evaluate("document.documentElement.lang") == "id"
        expect(page.locator("#conn")).to_have_text("langsung")
        assert page.evaluate("window.citysenseOps.devices.size") == 160
        expect(page.locator(f"[data-alert-id='{fleet.alert_id}']")).to_be_visible()
        expect(page.locator(".gauge")).to_have_count(3)
        expect(page.locator(f"[data-gauge='{gauge}'] .band-AWAS")).to_have_count(1)

        # A reading published over MQTT reaches the page through the real ingest in < 2 s.
        started = time.monotonic()
        _publish_level(broker.port, gauge, 487.25)
        # Field labels with units, numbers in Indonesian style: "Tinggi muka air 487,25 cm".
        feed = page.locator(f"#feed li[data-device='{gauge}']", has_text="muka air 487,25 cm")
        expect(feed).to_be_visible(timeout=2_000)
        latency = time.monotonic() - started
        print(f"MQTT publish -> on the page: {latency * 1000:.0f} ms")
        assert latency < 2.0, latency
        expect(page.locator(f"[data-gauge='{gauge}'] .level")).to_have_text("487 cm")
        # 487 cm is above Sukaraja's SIAGA band (450 cm): its dot and the counts follow.
        expect(page.locator(f"[data-gauge='{gauge}'] .lvl")).to_have_text("SIAGA")
        expect(page.locator("#counts [data-cat='SIAGA']")).to_contain_text("2")

        # The operator enters the API key once and acknowledges the alert.
        page.click("#settings-btn")
        page.fill("#api-key", fleet.operator_key)
        page.click("#settings-save")
        page.click(f"[data-ack='{fleet.alert_id}']")
        row = page.locator(f"li[data-alert-id='{fleet.alert_id}']")
        expect(row).to_have_class("critical acknowledged prio-high", timeout=5_000)
        expect(row).to_contain_text("diakui oleh meja-operasi")
        alert = _alert(stack.db, fleet.alert_id)
        assert (alert.status, alert.acknowledged_by) == ("acknowledged", "meja-operasi")
        assert page.evaluate("localStorage.getItem('citysense.apiKey')") == fleet.operator_key

        page.screenshot(path=str(artifacts_dir / "ops.png"))
        if os.environ.get("CITYSENSE_UPDATE_DOCS") or not (DOCS / "ops.png").exists():
            DOCS.mkdir(exist_ok=True)  # the README's picture; refreshed on request only
            shutil.copyfile(artifacts_dir / "ops.png", DOCS / "ops.png")

        # English on request.
        page.click("#lang-btn")
        expect(page.locator("#conn")).to_have_text("live")
        expect(page.locator("h1")).to_have_text("Citysense operations room")
        page.click("#lang-btn")

        # The stream drops: a visible "terputus"; it comes back: live again, and new data flows.
        stack.api.kill()  # a crash: uvicorn would wait for the open stream to end on SIGTERM
        expect(page.locator("body")).to_have_attribute("data-conn", "disconnected", timeout=5_000)
        expect(page.locator("#conn")).to_contain_text("terputus")
        expect(page.locator("#conn")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "ops-disconnected.png"))
        stack.restart_api()
        expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=15_000)
        _publish_level(broker.port, gauge, 301.5)
        expect(page.locator(f"#feed li[data-device='{gauge}']", has_text="301,5 cm")).to_be_visible(
            timeout=5_000
        )
        assert errors == []


def _alert(dsn: str, alert_id: int) -> Alert:
    """Read the alert back from the database (in a thread: Playwright owns this one's loop)."""

    async def read() -> Alert | None:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            return await get_alert(pool, alert_id)
        finally:
            await pool.close()

    with ThreadPoolExecutor(1) as ex:
        found = ex.submit(asyncio.run, read()).result()
    assert found is not None
    return found


def test_ops_static_files_stay_inside_their_folder(ops_stack: tuple[Stack, Fleet]) -> None:
    stack, _ = ops_stack
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        assert http.get("/ops").headers["content-type"].startswith("text/html")
        assert http.get("/ops/vendor/leaflet/leaflet.js").status_code == 200
        assert http.get("/ops/ops.js").headers["content-type"].startswith("text/javascript")
        assert http.get("/ops/..%2F..%2Fapp.py").status_code == 404
        assert http.get("/ops/../routes/ops_page.py").status_code == 404
        bands = http.get("/ops/bands.json").json()
        assert bands["AWLR-001"] == {"WASPADA": 300.0, "SIAGA": 450.0, "AWAS": 520.0}
        assert len(bands) == 3
        one = http.get("/ops/bands.json", params={"device": "AWLR-002"}).json()
        assert one == {"AWLR-002": {"WASPADA": 250.0, "SIAGA": 320.0, "AWAS": 480.0}}
        missing = http.get("/ops/bands.json", params={"device": "AWLR-999"})
        assert missing.status_code == 404
        assert "AWLR-999" in missing.json()["detail"]
        assert http.get("/ops/bands.json", params={"device": "no such"}).status_code == 422


def test_without_public_reads_the_page_asks_for_a_key_then_loads(
    ops_stack: tuple[Stack, Fleet], tmp_path: Path
) -> None:
    stack, fleet = ops_stack
    port = free_port()
    env = {**stack.env, "CITYSENSE_API_PORT": str(port), "CITYSENSE_PUBLIC_READ": "false"}
    private = Proc(["api"], env, tmp_path / "private-api.log")
    try:
        private.wait_for(r"Uvicorn running on")
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/ops")
            expect(page.locator("#settings")).to_be_visible(timeout=10_000)
            assert page.evaluate("window.citysenseOps.devices.size") == 0
            page.fill("#api-key", fleet.operator_key)
            page.click("#settings-save")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=15_000)
            assert page.evaluate("window.citysenseOps.devices.size") == 160
    finally:
        private.kill()
