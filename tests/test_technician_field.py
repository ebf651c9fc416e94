"""The technician's page at the pole: errors on the field in Bahasa, the id first, the kind
from the label, case-insensitive ids, and a deliberate decommissioning (real Chromium)."""

from __future__ import annotations

import asyncpg

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.api_keys import create_api_key
from core.storage.registry import get_record, list_journal
from tests.support.browser import chromium
from tests.support.server import serving_in_thread
from tests.test_technician_page import PHONE, _db

FOCUSED = "document.activeElement && document.activeElement.id"
IN_VIEW = """(id) => { const r = document.getElementById(id).getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight; }"""


def _key(settings: Settings, name: str) -> str:
    async def make(pool: asyncpg.Pool) -> str:
        return (await create_api_key(pool, name, "technician"))[1]

    return str(_db(settings.database_url, make))


def test_errors_sit_on_the_field_in_bahasa_and_the_first_is_focused(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    key = _key(settings, f"err-{uid}")
    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        page = context.new_page()
        page.goto(f"{base}/technician/")
        page.wait_for_selector("body[data-ready='1']")

        # A bad label is refused before any form appears, on the label field itself.
        page.fill("#device-id", "awlr enim!")
        page.click("#find-btn")
        page.wait_for_selector(".field-error[data-for='id']")
        assert page.is_hidden("#device-section")
        assert "bukan label yang sah" in page.inner_text(".field-error[data-for='id']")
        assert page.evaluate(FOCUSED) == "device-id"

        # A lower-case AWLR label is stored upper case, and the kind comes from its prefix.
        page.fill("#device-id", f"awlr-err-{uid.lower()}")
        page.click("#find-btn")
        page.wait_for_selector("#device-section:not([hidden])")
        assert page.input_value("#device-id") == f"AWLR-ERR-{uid}"
        assert page.input_value("#kind") == "flood_gauge"
        assert page.is_visible("#thresholds")

        # An active gauge without station, river, gauge zero and thresholds is refused; each
        # missing field says so in Bahasa and the first one is scrolled to and focused.
        page.select_option("#district", "Muara Enim")
        page.fill("#latitude", "-3.6641")
        page.fill("#longitude", "103.8015")
        page.select_option("#initial-status", "active")
        page.click("#save-btn")
        page.wait_for_selector(".field-error[data-for='station']")
        flagged = page.eval_on_selector_all(".field-error", "es => es.map(e => e.dataset.for)")
        assert set(flagged) == {"station", "river", "gauge_zero_m", "waspada_cm"}
        assert "wajib punya nama pos" in page.inner_text(".field-error[data-for='station']")
        assert page.evaluate(FOCUSED) == "m-station"
        assert page.evaluate(IN_VIEW, "m-station")
        assert page.get_attribute("#m-station", "aria-invalid") == "true"
        assert "Periksa kolom" in page.inner_text("#message")
        # The same errors in English on request.
        page.click("#lang-btn")
        assert "needs its station name" in page.inner_text(".field-error[data-for='station']")
        page.click("#lang-btn")

        page.fill("#m-station", "Sukaraja")
        page.fill("#m-river", "Enim")
        page.fill("#m-gauge_zero_m", "57,2")
        page.fill("#waspada_cm", "300")
        page.fill("#siaga_cm", "250")
        page.fill("#awas_cm", "522")
        page.click("#save-btn")
        page.wait_for_selector(".field-error[data-for='siaga_cm']")
        assert page.evaluate(FOCUSED) == "siaga_cm"
        assert "ambang harus naik" in page.inner_text(".field-error[data-for='siaga_cm']")
        page.fill("#siaga_cm", "450")
        page.click("#save-btn")
        page.wait_for_selector("#credentials:not([hidden])")
        assert page.locator(".field-error").count() == 0

        # The same label in another case is the same device, never a second one.
        page.fill("#device-id", f"AwLr-ErR-{uid.lower()}")
        page.click("#find-btn")
        page.wait_for_function(
            "(want) => document.getElementById('device-id').value === want", arg=f"AWLR-ERR-{uid}"
        )
        page.wait_for_selector("#message:has-text('ditemukan')")
        assert page.get_attribute("#current-status", "data-status") == "active"
        context.close()


def test_decommissioning_needs_a_reason_and_the_id_typed_again(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    did = f"PJU-DEC-{uid}"

    async def setup(pool: asyncpg.Pool) -> str:
        from devices.region import load_region
        from devices.registry import Registry
        from tests.support.registry import streetlight

        await Registry(pool, settings, kinds, load_region()).register(
            streetlight(did, status="active"), actor="t"
        )
        return (await create_api_key(pool, f"dec-{uid}", "supervisor"))[1]

    key = _db(settings.database_url, setup)
    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        page = context.new_page()
        page.goto(f"{base}/technician/?id={did}")
        page.wait_for_selector("#current-status[data-status='active']")
        # Not one of the ordinary status buttons, and visibly different from them.
        assert page.locator(".status-btn[data-status='decommissioned']").count() == 0
        colours = page.evaluate(
            """() => [getComputedStyle(document.querySelector('.status-btn')).color,
                      getComputedStyle(document.getElementById('decom-open')).color]"""
        )
        assert colours[0] != colours[1]
        page.click("#decom-open")
        page.wait_for_selector("#decom-panel:not([hidden])")
        assert page.is_disabled("#decom-go")
        page.fill("#decom-confirm", "PJU-DEC-OTHER")
        assert page.is_disabled("#decom-go"), "a wrong id does not arm the button"
        page.fill("#decom-confirm", did.lower())
        assert page.is_enabled("#decom-go")
        page.click("#decom-go")  # no reason yet: refused on the reason field
        page.wait_for_selector(".field-error[data-for='reason']")
        assert page.evaluate(FOCUSED) == "decom-reason"
        page.fill("#decom-reason", "Tiang roboh tertabrak truk")
        page.click("#decom-go")
        page.wait_for_selector("#current-status[data-status='decommissioned']")
        assert page.is_hidden("#decom-open")
        context.close()

    async def stored(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
        return await get_record(pool, did), await list_journal(pool, did)

    record, journal = _db(settings.database_url, stored)
    assert record is not None
    assert record.status == "decommissioned"
    status = next(e for e in journal if e.action == "status")
    assert status.note == "Tiang roboh tertabrak truk"
