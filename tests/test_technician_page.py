"""The technician's phone page in real headless Chromium at a phone-sized viewport."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.api_keys import create_api_key
from core.storage.pool import create_pool
from core.storage.registry import get_record, list_journal
from tests.support.browser import chromium
from tests.support.server import serving_in_thread

PHONE = {"width": 390, "height": 844}
HERE = {"latitude": -3.7735, "longitude": 103.8349, "accuracy": 6}


def _db(database_url: str, work):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_find_register_locate_status_and_note_from_a_phone(
    settings: Settings, kinds: KindRegistry, uid: str, artifacts_dir: Path
) -> None:
    closed = settings.model_copy(update={"public_read": False})

    async def make_key(pool: asyncpg.Pool) -> str:
        return (await create_api_key(pool, f"budi-{uid}", "technician"))[1]

    key = _db(settings.database_url, make_key)
    did = f"PJU-LK-{uid}"
    with serving_in_thread(create_app(closed, kinds)) as base, chromium() as browser:
        context = browser.new_context(
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            geolocation=HERE,
            permissions=["geolocation"],
        )
        page = context.new_page()
        page.goto(f"{base}/technician/")
        # First visit: the key is asked for once and kept on the phone.
        page.wait_for_selector("#key-section:not([hidden])")
        page.fill("#api-key", key)
        page.click("#save-key")
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_hidden("#key-section")
        assert page.evaluate("window.innerWidth") == 390
        # Typing always works; a browser without BarcodeDetector says so.
        has_detector = page.evaluate("'BarcodeDetector' in window")
        assert page.is_visible("#scan-btn") == has_detector
        assert page.is_visible("#scan-note") != has_detector

        page.fill("#device-id", did)
        page.click("#find-btn")
        page.wait_for_selector("#device-section:not([hidden])")
        page.wait_for_selector("#message.ok")
        assert did in page.inner_text("#message")
        page.select_option("#kind", "streetlight")
        page.fill("#name", "PJU Simpang Tanjung Enim")
        page.select_option("#district", "Lawang Kidul")
        page.fill("#village", "Tanjung Enim")
        page.click("#gps-btn")
        page.wait_for_function("() => document.getElementById('latitude').value !== ''")
        assert page.input_value("#latitude") == "-3.773500"
        assert "6 m" in page.inner_text("#gps-accuracy")
        page.fill("#m-pole_number", "P-101")
        page.select_option("#initial-status", "installed")
        page.click("#save-btn")
        page.wait_for_selector("#credentials:not([hidden])")
        assert page.inner_text("#cred-user") == did
        assert len(page.inner_text("#cred-pass")) >= 40
        assert page.get_attribute("#current-status", "data-status") == "installed"
        assert page.is_hidden("#initial-status-label")

        # Status change and a journal note.
        page.click(".status-btn[data-status='active']")
        page.wait_for_selector("#current-status[data-status='active']")
        page.fill("#note", "Lampu menyala, kabel dirapikan")
        page.click("#note-btn")
        page.wait_for_selector("#journal li:has-text('Lampu menyala')")
        page.screenshot(path=str(artifacts_dir / "technician-page.png"), full_page=True)

        # Bad input comes back with the field and the fix, and nothing changes.
        page.fill("#latitude", "-6.2")
        page.fill("#longitude", "106.8")
        page.click("#save-btn")
        page.wait_for_selector("#message.error")
        assert "outside Kabupaten Muara Enim" in page.inner_text("#message")

        # Another visit finds the device by its label and shows what is stored.
        page.goto(f"{base}/technician/?id={did}")
        page.wait_for_selector("#current-status[data-status='active']")
        assert page.is_hidden("#key-section"), "the key was kept on the phone"
        assert page.input_value("#m-pole_number") == "P-101"
        assert page.input_value("#latitude") == "-3.7735"
        assert page.is_visible(".status-btn[data-status='maintenance']")
        assert not page.is_visible(".status-btn[data-status='planned']")
        context.close()

    async def stored(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
        return await get_record(pool, did), await list_journal(pool, did)

    record, journal = _db(settings.database_url, stored)
    assert record is not None
    assert (record.latitude, record.longitude) == (-3.7735, 103.8349)
    assert record.status == "active"
    assert record.mounting == {"pole_number": "P-101"}
    assert [e.action for e in reversed(journal)] == ["registered", "status", "note"]
    assert {e.actor for e in journal} == {f"budi-{uid}"}
    assert (artifacts_dir / "technician-page.png").stat().st_size > 10_000


# Desktop Linux Chromium has no BarcodeDetector (Android Chrome has); this stands in for
# the camera and the detector so the page's scanning path runs for real around them.
FAKE_SCANNER = """
window.BarcodeDetector = class {
  constructor(opts) { window.__scanFormats = opts.formats; }
  async detect(source) { return [{ rawValue: " %s ", format: "qr_code" }]; }
};
navigator.mediaDevices.getUserMedia = async (constraints) => {
  window.__camera = constraints.video.facingMode;
  const c = document.createElement("canvas");
  c.width = 64; c.height = 64;
  c.getContext("2d").fillRect(0, 0, 64, 64);
  return c.captureStream(5);
};
"""


def test_scanning_a_label_finds_the_device(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    did = f"SCAN-{uid}"

    async def setup(pool: asyncpg.Pool) -> str:
        from devices.region import load_region
        from devices.registry import Registry
        from tests.support.registry import gauge

        await Registry(pool, settings, kinds, load_region()).register(gauge(did), actor="t")
        return (await create_api_key(pool, f"scan-{uid}", "technician"))[1]

    key = _db(settings.database_url, setup)
    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        context.add_init_script(FAKE_SCANNER % did)
        page = context.new_page()
        page.goto(f"{base}/technician/")
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_visible("#scan-btn")
        page.click("#scan-btn")
        page.wait_for_selector("#current-status[data-status='active']")
        assert page.input_value("#device-id") == did
        assert page.input_value("#m-station") == "Sukaraja"
        assert page.input_value("#awas_cm") == "522"
        assert page.evaluate("window.__camera") == "environment"
        assert page.evaluate("window.__scanFormats") == ["qr_code"]
        assert page.is_hidden("#scan-video"), "the camera is released after a read"
        context.close()


def test_the_page_speaks_indonesian_first_and_english_on_request(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    """UU 24/2009: Bahasa Indonesia by default; the English choice is kept on the phone."""
    did = f"PJU-LANG-{uid}"

    async def setup(pool: asyncpg.Pool) -> str:
        from devices.region import load_region
        from devices.registry import Registry
        from tests.support.registry import streetlight

        await Registry(pool, settings, kinds, load_region()).register(
            streetlight(did, status="active"), actor="t"
        )
        return (await create_api_key(pool, f"lang-{uid}", "technician"))[1]

    key = _db(settings.database_url, setup)
    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        page = context.new_page()
        page.goto(f"{base}/technician/?id={did}")
        page.wait_for_selector("#current-status[data-status='active']")
        page.wait_for_selector("#journal li")

        def texts() -> dict[str, str]:
            return page.evaluate(
                """() => ({
                  lang: document.documentElement.lang,
                  title: document.title,
                  find: document.getElementById('find-btn').textContent,
                  gps: document.getElementById('gps-btn').textContent,
                  save: document.getElementById('save-btn').textContent,
                  district: document.querySelector('[data-i18n=district]').textContent,
                  kind: document.querySelector('#kind option[value=streetlight]').textContent,
                  initial: document.querySelector('#initial-status option[value=planned]')
                    .textContent,
                  badge: document.getElementById('current-status').textContent,
                  next: document.querySelector(".status-btn[data-status='maintenance']")
                    .textContent,
                  mounting: document.getElementById('m-pole_number').parentElement.textContent,
                  journal: document.querySelector('#journal li').textContent,
                  message: document.getElementById('message').textContent,
                  button: document.getElementById('lang-btn').textContent,
                })"""
            )

        seen = texts()
        assert seen == {
            **seen,
            "lang": "id",
            "title": "Citysense · Teknisi",
            "find": "Cari",
            "gps": "Pakai posisi GPS saya",
            "save": "Simpan",
            "district": "Kecamatan",
            "kind": "Lampu jalan (PJU)",
            "initial": "direncanakan",
            "badge": "aktif",
            "next": "→ perawatan",
            "message": f"{did} ditemukan.",
            "button": "EN",
        }
        assert seen["mounting"].startswith("Nomor tiang")
        assert " · didaftarkan" in seen["journal"]
        assert page.input_value("#device-id") == did

        # The button switches everything in place, the stored device included.
        page.click("#lang-btn")
        seen = texts()
        assert seen == {
            **seen,
            "lang": "en",
            "title": "Citysense · Technician",
            "find": "Find",
            "gps": "Use my GPS position",
            "save": "Save",
            "district": "District (kecamatan)",
            "kind": "Street light (PJU)",
            "initial": "planned",
            "badge": "active",
            "next": "→ maintenance",
            "message": f"Found {did}.",
            "button": "ID",
        }
        assert seen["mounting"].startswith("Pole number")
        assert " · registered" in seen["journal"]

        # The choice is kept on the phone across a reload.
        page.reload()
        page.wait_for_selector("#current-status[data-status='active']")
        assert texts()["lang"] == "en"
        assert page.inner_text("#current-status") == "active"

        # ?lang= picks the language for one visit without changing the kept choice.
        page.goto(f"{base}/technician/?id={did}&lang=id")
        page.wait_for_selector("#current-status[data-status='active']")
        assert (texts()["lang"], texts()["badge"]) == ("id", "aktif")
        assert page.evaluate("localStorage.getItem('citysense.lang')") == "en"

        # A status change sends the API's value, not the label shown.
        page.click(".status-btn[data-status='maintenance']")
        page.wait_for_selector("#current-status[data-status='maintenance']")
        assert page.inner_text("#message") == "Status sekarang perawatan."
        context.close()

    async def stored(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
        return await get_record(pool, did)

    record = _db(settings.database_url, stored)
    assert record is not None
    assert record.status == "maintenance"
