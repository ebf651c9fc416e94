"""The device's page shows each command sent to it and where it stands (real Chromium)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg

from api.app import create_app
from commands.model import Target, TargetKind
from commands.sending import send
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage import commands as store
from core.storage.api_keys import create_api_key
from core.storage.pool import create_pool
from devices.region import load_region
from devices.registry import Registry
from tests.support.browser import chromium
from tests.support.registry import streetlight
from tests.support.server import serving_in_thread

T = TypeVar("T")
PHONE = {"width": 390, "height": 844}


def _db(database_url: str, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_the_device_page_lists_its_commands_with_their_state_in_both_languages(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    did = f"PJU-TCMD-{uid}"

    async def setup(pool: asyncpg.Pool) -> str:
        await Registry(pool, settings, kinds, load_region()).register(
            streetlight(did, status="active"), actor="t"
        )
        target = Target(TargetKind.DEVICE, did)
        now = datetime.now(UTC)
        await send(pool, kinds, target=target, command="switch", args={"mode": "on"},
                   ttl_s=600, actor="api:ani", now=now)  # fmt: skip
        dim = await send(pool, kinds, target=target, command="dim", args={"level": 50},
                         ttl_s=600, actor="api:ani", now=now)  # fmt: skip
        await store.apply_reply(pool, device_id=did, command_id=dim.commands[0][1],
                                status="done", detail=None, at=now)  # fmt: skip
        return (await create_api_key(pool, f"tcmd-{uid}", "technician"))[1]

    key = _db(settings.database_url, setup)
    with serving_in_thread(create_app(settings, kinds)) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
        page = context.new_page()
        page.goto(f"{base}/technician/?id={did}")
        page.wait_for_selector("#commands li[data-status='done']")

        def items() -> list[str]:
            got: list[str] = page.eval_on_selector_all(
                "#commands li", "els => els.map(e => e.textContent)"
            )
            return got

        title = page.text_content("#commands-title")
        bahasa = items()
        page.click("#lang-btn")
        english = items()
        english_title = page.text_content("#commands-title")
    assert title == "Perintah"
    assert english_title == "Commands"
    assert len(bahasa) == 2
    assert 'dim {"level":50} · selesai · api:ani' in bahasa[0]
    assert 'switch {"mode":"on"} · antre · api:ani' in bahasa[1]
    assert 'dim {"level":50} · done · api:ani' in english[0]
