"""At the pole without signal: the page opens, registrations, status changes and notes wait
on the phone as "menunggu sinyal", and go out once when the signal returns; a device someone
changed meanwhile is shown as a conflict for the technician to settle (real Chromium, the
network cut under the page and its service worker alike)."""

from __future__ import annotations

import io
from pathlib import Path

import asyncpg
import httpx

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.api_keys import create_api_key
from core.storage.registry import get_record, list_journal
from tests.support.browser import chromium
from tests.support.server import serving_in_thread
from tests.support.switch import switched
from tests.test_technician_page import PHONE, _db

OUTBOX = "document.getElementById('outbox-count').textContent"


def _photo() -> bytes:
    """A 2000 x 1500 picture: the phone shrinks it to 1600 px before queueing."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2000, 1500), (120, 160, 90)).save(buf, format="PNG")
    return buf.getvalue()


def test_offline_work_is_queued_sent_once_on_reconnect_and_conflicts_are_shown(
    settings: Settings, kinds: KindRegistry, uid: str, artifacts_dir: Path
) -> None:
    known = f"PJU-OFF-{uid}"
    new = f"AWLR-OFF-{uid}"

    async def setup(pool: asyncpg.Pool) -> str:
        from devices.region import load_region
        from devices.registry import Registry
        from tests.support.registry import streetlight

        await Registry(pool, settings, kinds, load_region()).register(
            streetlight(known, status="active"), actor="t"
        )
        return (await create_api_key(pool, f"off-{uid}", "technician"))[1]

    key = _db(settings.database_url, setup)
    auth = {"Authorization": f"Bearer {key}"}
    with (
        serving_in_thread(create_app(settings, kinds)) as base,
        switched(base) as net,
        chromium() as browser,
    ):
        context = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, service_workers="allow"
        )
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        page = context.new_page()
        page.goto(f"{net.url}/technician/?id={known}")
        page.wait_for_selector("#current-status[data-status='active']")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        manifest = page.evaluate(
            "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
        )
        assert manifest["display"] == "standalone"
        assert manifest["start_url"] == "/technician/"

        # Signal gone: the page still opens, from what the phone keeps.
        net.cut()
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_visible("#net-state")

        # A complete flood-gauge registration, made offline.
        page.fill("#device-id", new.lower())
        page.click("#find-btn")
        page.wait_for_selector("#device-section:not([hidden])")
        assert page.input_value("#device-id") == new
        assert page.input_value("#kind") == "flood_gauge"
        page.fill("#name", "AWLR Lematang Pagar Agung")
        page.select_option("#district", "Muara Enim")
        page.fill("#latitude", "-3.6641")
        page.fill("#longitude", "103.8015")
        page.fill("#m-station", "Pagar Agung")
        page.fill("#m-river", "Lematang")
        page.fill("#m-gauge_zero_m", "61.5")
        page.fill("#waspada_cm", "250")
        page.fill("#siaga_cm", "350")
        page.fill("#awas_cm", "450")
        page.select_option("#initial-status", "active")
        page.click("#save-btn")
        page.wait_for_function(f"() => {OUTBOX} === '1'")
        assert "menunggu sinyal" in page.inner_text("#outbox")
        assert "Tidak ada sinyal" in page.inner_text("#message")

        # The known device, from the phone's copy: a status change and a note.
        page.fill("#device-id", known)
        page.click("#find-btn")
        page.wait_for_selector("#current-status[data-status='active']")
        page.click(".status-btn[data-status='maintenance']")
        page.wait_for_function(f"() => {OUTBOX} === '2'")
        assert "menunggu sinyal" in page.inner_text("#current-status")
        page.fill("#note", "Driver lampu diganti")
        page.click("#note-btn")
        page.wait_for_function(f"() => {OUTBOX} === '3'")
        page.set_input_files(
            "#photo", files=[{"name": "tiang.png", "mimeType": "image/png", "buffer": _photo()}]
        )
        page.wait_for_function(f"() => {OUTBOX} === '4'")

        # Nothing reached the server, and meanwhile the ops room moves the known device.
        assert httpx.get(f"{base}/devices/{new}", headers=auth).status_code == 404
        moved = httpx.patch(f"{base}/devices/{known}", json={"village": "Darmo"}, headers=auth)
        assert moved.status_code == 200

        # Signal back: the queue goes out by itself; the stale status change is a conflict.
        net.restore()
        context.set_offline(False)
        page.wait_for_selector("#outbox li[data-state='conflict']")
        page.screenshot(path=str(artifacts_dir / "technician-conflict.png"))
        page.wait_for_function(f"() => {OUTBOX} === '1'")
        assert "diubah orang lain" in page.inner_text("#outbox")
        registered = httpx.get(f"{base}/devices/{new}", headers=auth).json()
        assert registered["status"] == "active"
        assert registered["mounting"] == {
            "station": "Pagar Agung", "river": "Lematang", "gauge_zero_m": 61.5
        }  # fmt: skip
        assert (registered["waspada_cm"], registered["awas_cm"]) == (250, 450)
        # The technician keeps their change, knowingly.
        page.click("#outbox .keep-mine")
        page.wait_for_selector("#outbox-section", state="hidden")
        page.wait_for_selector("#current-status[data-status='maintenance']")
        context.close()

    async def stored(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
        return (
            await get_record(pool, known),
            await list_journal(pool, known),
            await list_journal(pool, new),
        )

    record, journal, new_journal = _db(settings.database_url, stored)
    assert [e.action for e in journal].count("photo") == 1, "the photo went out, once"
    from PIL import Image

    from core.storage.photos import get_photo, list_photos

    async def photo(pool: asyncpg.Pool) -> tuple[str, bytes] | None:
        (info,) = await list_photos(pool, known)
        return await get_photo(pool, known, info.id)

    kept = _db(settings.database_url, photo)
    assert kept is not None
    assert kept[0] == "image/jpeg"
    assert Image.open(io.BytesIO(kept[1])).size == (1600, 1200), "shrunk on the phone"
    assert record is not None
    assert (record.status, record.village) == ("maintenance", "Darmo"), "both changes kept"
    assert [e.action for e in new_journal] == ["registered"], "registered once"
    assert [e.note for e in journal if e.action == "note"] == ["Driver lampu diganti"]
