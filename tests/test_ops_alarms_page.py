"""The operations room on a 1920x1080 wall screen in headless Chromium, against real ingest,
alert evaluator and API processes: during a flood with other alarms standing, the flood alarm
is at the top and the river panel is visible without scrolling; a gauge whose data is 16 h
old is drawn as stale with its age and not counted as a level; a device registered while the
page is open appears without a reload; the flood's episode timeline shows its peak; texts
are Bahasa Indonesia with WIB times."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from alerts.vocabulary import Rule
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.kinds import builtin_kinds
from core.storage.alerts import set_level
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.flood_thresholds import FloodBands, set_flood_bands
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import Reading, Topics
from tests.support.browser import chromium
from tests.support.mqtt import publish_all
from tests.support.operations import open_alert
from tests.support.ops_fleet import Fleet, seed_fleet
from tests.support.procs import Proc, settings_env
from tests.support.services import scratch_database

DOCS = Path(__file__).resolve().parents[1] / "docs"
STALE = "AWLR-STALE-01"
NEW = "AWLR-NEW-01"
WALL = {"width": 1920, "height": 1080}


@dataclass
class Room:
    url: str
    db: str
    fleet: Fleet


def _in_thread(coro_fn: object) -> None:
    """Run a coroutine on a loop of its own (Playwright owns this thread's)."""
    with ThreadPoolExecutor(1) as ex:
        ex.submit(asyncio.run, coro_fn).result()  # type: ignore[arg-type]


async def _seed_more(dsn: str) -> None:
    """Standing equipment alarms opened before the flood, and a gauge 16 h behind."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        for i in range(25):
            await open_alert(pool, Rule.NODE_LATENCY, f"NODE-LAT-{i:02d}", message=f"latensi {i}")
        now = datetime.now(UTC)
        await upsert_devices(
            pool,
            [
                DeviceRow(
                    STALE, "flood_gauge", "Tanjung Enim", "active", "Lawang Kidul", -3.78, 103.8
                )
            ],
        )
        await set_flood_bands(pool, [FloodBands(STALE, 300, 450, 520)])
        old = Reading(STALE, "flood_gauge", now - timedelta(hours=16), {"water_level": 496.0})
        await write_batch(pool, builtin_kinds(), [old], [], now)  # arrived now: late, not silent
        await set_level(pool, STALE, "SIAGA")
    finally:
        await pool.close()


async def _register_new(dsn: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await upsert_devices(
            pool, [DeviceRow(NEW, "flood_gauge", "Pos baru", "active", "Ujan Mas", -3.6, 103.9)]
        )
    finally:
        await pool.close()


@pytest.fixture
def room(pg_server_url: str, broker: LocalMosquitto, tmp_path: Path, uid: str) -> Iterator[Room]:
    with scratch_database(pg_server_url, prefix="citysense_room") as db:
        migrate(db, retention_days=730)
        fleet = seed_fleet(db, 160)
        _in_thread(_seed_more(db))
        config = tmp_path / "alerts.json"
        config.write_text(json.dumps({"registry_refresh_s": 1, "evaluate_every_s": 5}))
        port = free_port()
        env = settings_env(db, broker.port, api_port=str(port), ingest_client_id=f"room-{uid}")
        procs = [
            Proc(["ingest"], env, tmp_path / "ingest.log"),
            Proc(["alerts", "--config", str(config)], env, tmp_path / "alerts.log"),
            Proc(["api"], env, tmp_path / "api.log"),
        ]
        try:
            procs[0].wait_for(r"subscribed to ")
            procs[1].wait_for(r"listening on")
            procs[2].wait_for(r"Uvicorn running on")
            yield Room(f"http://127.0.0.1:{port}", db, fleet)
        finally:
            for p in reversed(procs):
                p.stop()
            for p in procs:
                assert "Traceback" not in p.output(), p.output()


def _flood(port: int, gauge: str) -> None:
    """WASPADA, SIAGA, AWAS, then one low reading from a second feed (newer than the seed's)."""
    now = datetime.now(UTC) + timedelta(seconds=30)
    topic = Topics().telemetry("flood_gauge", gauge)
    levels = [(40, 310.0), (30, 460.0), (20, 530.0), (10, 250.0)]
    publish_all(
        port,
        [
            (
                topic,
                json.dumps(
                    {"ts": (now - timedelta(seconds=s)).isoformat(), "water_level": cm}
                ).encode(),
            )
            for s, cm in levels
        ],
    )


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / name))
    if os.environ.get("CITYSENSE_UPDATE_DOCS") or not (DOCS / name).exists():
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(artifacts / name, DOCS / name)


def test_flood_alarm_leads_stale_is_grey_new_devices_appear_and_the_episode_has_its_peak(
    room: Room, broker: LocalMosquitto, artifacts_dir: Path
) -> None:
    gauge = room.fleet.gauges[0]  # Sukaraja: WASPADA 300, SIAGA 450, AWAS 520
    with chromium() as browser:
        page = browser.new_page(viewport=WALL)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(room.url + "/ops")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
        expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=15_000)
        assert page.evaluate("document.documentElement.lang") == "id"
        # 25 latency alarms, the seed's SIAGA and latency ones (and lamps, by night) stand
        page.wait_for_function("() => document.querySelectorAll('#alerts li').length >= 27")

        _flood(broker.port, gauge)
        top = page.locator("#alerts li").first
        expect(top).to_have_attribute("data-priority", "urgent", timeout=10_000)
        expect(top.locator(".lvl")).to_have_text("AWAS")
        expect(top).to_contain_text("tinggi muka air")
        expect(top).to_contain_text("WIB")
        expect(page.locator("#alert-counts [data-priority='urgent']")).to_contain_text("1")

        # The river panel is on the screen without scrolling, the flooding gauge first.
        rivers = page.locator("#rivers").bounding_box()
        assert rivers is not None
        assert rivers["y"] + 150 < WALL["height"], rivers
        expect(page.locator(".gauge").first).to_have_attribute("data-gauge", gauge)

        # 16 h old data: grey, with its age, and not counted as SIAGA in the header.
        stale = page.locator(f"[data-gauge='{STALE}']")
        expect(stale).to_have_attribute("data-state", "stale")
        expect(stale.locator(".lvl")).to_have_text("data lama")
        expect(stale.locator("[data-age]")).to_contain_text("jam lalu")
        siaga = page.evaluate(
            "[...citysenseOps.devices.values()].filter(e => e.d.level === 'SIAGA'"
            " && !e.d.stale && e.d.online).length"
        )
        chip = page.locator("#counts [data-cat='SIAGA']")
        if siaga:
            expect(chip).to_contain_text(f": {siaga}")
        else:
            expect(chip).to_have_count(0)
        expect(page.locator("#counts [data-cat='stale']")).to_be_visible()
        _shot(page, artifacts_dir, "ops-alarms.png")

        # A device registered while the page is open appears without a reload.
        before = page.evaluate("citysenseOps.devices.size")
        _in_thread(_register_new(room.db))
        page.wait_for_function(f"() => citysenseOps.devices.has('{NEW}')", timeout=15_000)
        assert page.evaluate("citysenseOps.devices.size") == before + 1
        expect(page.locator("#counts [data-cat='devices']")).to_contain_text(str(before + 1))
        expect(page.locator(f"[data-gauge='{NEW}'] .lvl")).to_have_text("belum ada data")

        # The flood's episode: raised, escalated twice, the peak with its WIB time.
        top.click()
        detail = page.locator("#alert-detail")
        expect(detail).to_be_visible()
        expect(detail.locator("[data-event='raise']")).to_have_count(1)
        expect(detail.locator("[data-event='escalate']")).to_have_count(2)
        expect(detail.locator(".peak")).to_contain_text("530 cm")
        expect(detail.locator(".peak")).to_contain_text("WIB")
        expect(detail.locator("[data-event='raise']")).to_contain_text("muncul")
        _shot(page, artifacts_dir, "ops-episode.png")

        # An equipment alarm is shelved for a stated time with a reason: it leaves the list,
        # is counted as shelved, and the shelving is journalled.
        page.click("#settings-btn")
        page.fill("#api-key", room.fleet.operator_key)
        page.click("#settings-save")
        low_id = page.locator("#alerts li[data-priority='low']").first.get_attribute(
            "data-alert-id"
        )
        # by id: alarms arriving meanwhile re-order the list
        page.locator(f"#alerts li[data-alert-id='{low_id}'] .msg").click()
        expect(detail).to_have_attribute("data-alert-id", str(low_id))  # not the flood's
        expect(detail.locator("#shelve")).to_be_visible()
        detail.locator("input[name='reason']").fill("perbaikan terjadwal")
        detail.locator("#shelve button").click()
        expect(detail).to_contain_text("Ditunda sampai")
        expect(page.locator(f"#alerts li[data-alert-id='{low_id}']")).to_have_count(0)
        expect(page.locator("#alert-counts .shelved")).to_contain_text("ditunda 1")
        expect(detail).to_contain_text("Ditunda sampai")
        timeline = httpx.get(f"{room.url}/alerts/{low_id}", timeout=10).json()["timeline"]
        assert [(e["event"], e["note"]) for e in timeline][-1] == ("shelve", "perbaikan terjadwal")
        assert errors == []
