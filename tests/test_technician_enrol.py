"""A technician's phone is enrolled by opening the admin's link (QR code), not by typing a
key; the key names the technician in the journal and dies when the admin revokes it."""

from __future__ import annotations

import asyncpg
import httpx

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.api_keys import create_api_key
from core.storage.registry import list_journal
from tests.support.browser import chromium
from tests.support.server import serving_in_thread
from tests.test_technician_page import PHONE, _db


def test_an_enrolment_link_signs_the_phone_in_once_and_revoking_it_signs_it_out(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    closed = settings.model_copy(update={"public_read": False})

    async def admin_key(pool: asyncpg.Pool) -> str:
        return (await create_api_key(pool, f"admin-{uid}", "admin"))[1]

    admin = {"Authorization": f"Bearer {_db(settings.database_url, admin_key)}"}
    name = f"Budi Santoso {uid}"
    did = f"PJU-ENR-{uid}"
    with serving_in_thread(create_app(closed, kinds)) as base, chromium() as browser:
        made = httpx.post(
            f"{base}/enrolments", json={"technician": name, "ttl_minutes": 10}, headers=admin
        )
        assert made.status_code == 201, made.text
        enrolment = made.json()
        assert enrolment["link"].startswith(f"{base}/technician/#enrol=")
        assert enrolment["qr_svg"].startswith("<svg")
        assert made.headers["cache-control"] == "no-store"
        # Only an admin may enrol.
        assert httpx.post(f"{base}/enrolments", json={"technician": "x"}).status_code == 401

        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(enrolment["link"])
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_hidden("#key-section"), "no key to type"
        assert name in page.inner_text("#message")
        assert "#enrol" not in page.url, "the code leaves the address bar"
        stored_key = page.evaluate("localStorage.getItem('citysense.apiKey')")
        assert stored_key.startswith("cs_")

        # The link works once.
        again = httpx.post(f"{base}/enrol", json={"code": enrolment["link"].split("=", 1)[1]})
        assert again.status_code == 410
        assert "sudah dipakai" in again.json()["detail"]

        # Work done with the enrolled phone is journalled under the technician's name.
        page.fill("#device-id", did)
        page.click("#find-btn")
        page.wait_for_selector("#device-section:not([hidden])")
        page.select_option("#district", "Lubai")
        page.select_option("#initial-status", "planned")
        page.click("#save-btn")
        page.wait_for_selector("#credentials:not([hidden])")

        listed = httpx.get(f"{base}/enrolments", headers=admin).json()
        mine = next(e for e in listed if e["id"] == enrolment["id"])
        assert mine["state"] == "used"
        revoked = httpx.post(f"{base}/enrolments/{enrolment['id']}/revoke", headers=admin)
        assert revoked.status_code == 200
        assert revoked.json()["state"] == "revoked"

        # The phone's next call is refused and the page asks for a new link.
        page.reload()
        page.wait_for_selector("#key-section:not([hidden])")
        assert "minta tautan pendaftaran baru" in page.inner_text("#message")
        h = {"Authorization": f"Bearer {stored_key}"}
        assert httpx.get(f"{base}/devices/{did}", headers=h).status_code == 401
        context.close()

    journal = _db(settings.database_url, lambda pool: list_journal(pool, did))
    assert [(e.action, e.actor) for e in journal] == [("registered", name)]


def test_an_expired_or_revoked_enrolment_link_is_refused(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    from datetime import timedelta

    from core.storage.enrolments import create_enrolment, revoke_enrolment

    async def setup(pool: asyncpg.Pool) -> tuple[str, str]:
        _, old = await create_enrolment(
            pool, technician=f"old-{uid}", created_by="t", ttl=timedelta(seconds=-1)
        )
        e, gone = await create_enrolment(
            pool, technician=f"gone-{uid}", created_by="t", ttl=timedelta(minutes=5)
        )
        await revoke_enrolment(pool, e.id)
        return old, gone

    old, gone = _db(settings.database_url, setup)
    with serving_in_thread(create_app(settings, kinds)) as base:
        for code in (old, gone, "not-a-real-code-at-all"):
            assert httpx.post(f"{base}/enrol", json={"code": code}).status_code == 410
