"""The operations room on a 1920x1080 wall screen in headless Chromium, against a real API
process: an order an operator opens over the API shows up in the open work orders with
nobody holding it, and with the technician's name once they accept it; last night's street
light energy per district and the dimming schedule's saving are the figures GET /energy
gives, in Indonesian number style."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.kinds import builtin_kinds
from core.storage.api_keys import create_api_key
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.storage.registry import update_device
from core.storage.rollups import refresh_rollups
from core.wire import DecodeLimits, decode_telemetry, encode_telemetry
from simulators.solar import WIB
from tests.support.browser import chromium
from tests.support.procs import Proc, settings_env
from tests.support.services import scratch_database

WALL = {"width": 1920, "height": 1080}
DISTRICTS = ("Lawang Kidul", "Tanjung Agung")
TECHNICIAN = "teknisi-budi"


@dataclass
class Room:
    url: str
    operator: dict[str, str]
    technician: dict[str, str]


def last_night(now: datetime) -> date:
    """The page's "last night": the newest night (12:00-12:00 WIB) whose lights are off
    (06:00 WIB the next morning)."""
    return (now.astimezone(WIB) - timedelta(hours=6)).date() - timedelta(days=1)


async def _seed(dsn: str) -> tuple[str, str]:
    """Two lights per district burning last night, one of each pair dimmed to 50 % for five
    hours by its schedule; an operator and a technician key."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        kinds = builtin_kinds()
        dusk = datetime.combine(last_night(datetime.now(UTC)), time(18), WIB)
        rows = [
            DeviceRow(f"PJU-{d[:3].upper()}-{i}", "streetlight", f"l{i}", "active", d, -3.7, 103.8)
            for d in DISTRICTS
            for i in (1, 2)
        ]
        await upsert_devices(pool, rows)
        async with pool.acquire() as conn:
            for r in rows:
                await update_device(conn, r.id, {"mounting": {"feeder": f"F-{r.district}"}})
        readings = []
        for n, row in enumerate(rows):
            watts = 0.9 if row.district == DISTRICTS[0] else 1.5  # 90 W and 150 W lamps
            items = []
            for h in range(12):  # 18:00 to 05:45 WIB, one reading every 15 min
                level = 50.0 if n % 2 and 5 <= h < 10 else 100.0
                for q in range(4):
                    items.append({"ts": dusk + timedelta(hours=h, minutes=15 * q),
                                  "power_state": "on" if level == 100 else "low",
                                  "dim_pct": level, "active_power": watts * level})  # fmt: skip
            items.append({"ts": dusk + timedelta(hours=12), "power_state": "off",
                          "dim_pct": 0.0, "active_power": 0.0})  # fmt: skip
            got, bad = decode_telemetry(kinds["streetlight"], row.id, encode_telemetry(items),
                                        datetime.now(UTC), DecodeLimits())  # fmt: skip
            assert bad == []
            readings += got
        await write_batch(pool, kinds, readings, [], datetime.now(UTC))
        while (await refresh_rollups(pool, kinds)).buckets:
            pass
        _, operator = await create_api_key(pool, "meja-operasi", "operator")
        _, technician = await create_api_key(pool, TECHNICIAN, "technician")
        return operator, technician
    finally:
        await pool.close()


@pytest.fixture
def room(pg_server_url: str, broker: LocalMosquitto, tmp_path: Path) -> Iterator[Room]:
    with scratch_database(pg_server_url, prefix="citysense_room_wo") as db:
        migrate(db, retention_days=730)
        with ThreadPoolExecutor(1) as ex:  # a loop of its own (Playwright owns this thread's)
            operator, technician = ex.submit(asyncio.run, _seed(db)).result()
        port = free_port()
        api = Proc(["api"], settings_env(db, broker.port, api_port=str(port)), tmp_path / "api.log")
        try:
            api.wait_for(r"Uvicorn running on")
            yield Room(
                f"http://127.0.0.1:{port}",
                {"Authorization": f"Bearer {operator}"},
                {"Authorization": f"Bearer {technician}"},
            )
        finally:
            api.stop()
            assert "Traceback" not in api.output(), api.output()


def _open(page: Page, url: str) -> None:
    page.goto(url + "/ops")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)


def _id_number(v: float, digits: int) -> str:
    """Indonesian style, as the page writes it: a decimal comma, trailing zeros dropped."""
    return f"{v:.{digits}f}".rstrip("0").rstrip(".").replace(".", ",")


def test_an_order_opened_over_the_api_appears_with_its_holder_once_accepted(room: Room) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport=WALL)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, room.url)
        expect(page.locator("#work-orders h2")).to_contain_text("Tugas perbaikan terbuka")
        expect(page.locator("#orders")).to_contain_text("Tidak ada tugas perbaikan terbuka.")

        created = httpx.post(
            f"{room.url}/work-orders",
            json={"device_id": "PJU-LAW-1", "title": "Lampu mati di Jl. Sudirman"},
            headers=room.operator,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        order = created.json()
        row = page.locator(f"#orders li[data-order-id='{order['id']}']")
        expect(row).to_contain_text("Lampu mati di Jl. Sudirman", timeout=15_000)
        expect(row.locator("[data-holder]")).to_have_text("belum diambil")
        expect(page.locator("#order-count")).to_have_text("1")
        expect(page.locator("#work-orders")).to_be_in_viewport()

        accepted = httpx.post(
            f"{room.url}/work-orders/{order['id']}/accept", headers=room.technician, timeout=10
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["holder"] == TECHNICIAN
        expect(row.locator("[data-holder]")).to_have_text(TECHNICIAN, timeout=15_000)
        expect(row).to_contain_text("dipegang")
        expect(row.locator("[data-order-status]")).to_have_text("dikerjakan")

        page.click("#lang-btn")
        expect(row).to_contain_text(f"held by {TECHNICIAN}")
        expect(row.locator("[data-order-status]")).to_have_text("in progress")
        assert errors == []


def test_last_nights_energy_per_district_and_saving_are_the_apis_figures(room: Room) -> None:
    night = last_night(datetime.now(UTC)).isoformat()
    r = httpx.get(f"{room.url}/energy", params={"from": night, "group": "district"}, timeout=10)
    assert r.status_code == 200, r.text
    api: dict[str, Any] = {n["key"]: n for n in r.json()["nights"]}
    assert set(api) == set(DISTRICTS)
    assert all(n["saving_pct"] > 0 for n in api.values()), api  # the schedule dimmed one
    with chromium() as browser:
        page = browser.new_page(viewport=WALL)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, room.url)
        for district, n in api.items():
            row = page.locator(f"#energy tr[data-district='{district}']")
            expect(row.locator("[data-kwh]")).to_have_text(_id_number(n["kwh"], 2))
            expect(row.locator("[data-saving]")).to_have_text(f"{_id_number(n['saving_pct'], 1)} %")
        kwh = sum(n["kwh"] for n in api.values())
        full = sum(n["kwh_full"] for n in api.values())
        total = page.locator("#energy tr[data-total]")
        expect(total.locator("[data-kwh]")).to_have_text(_id_number(kwh, 2))
        expect(total.locator("[data-saving]")).to_have_text(
            f"{_id_number(round(100 * (1 - kwh / full), 1), 1)} %"
        )
        expect(page.locator("#energy-panel h2")).to_contain_text("Energi lampu semalam")
        expect(page.locator("#energy-panel")).to_be_in_viewport()
        assert errors == []
