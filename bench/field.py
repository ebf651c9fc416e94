"""Field use, measured in taps and typed characters (the benchmark of record for the phone).

Two scripted runs in headless Chromium at 390 x 844 with touch, against a real API and
PostgreSQL, the network cut under the page and its service worker while working:

1. a flood gauge registered with all its details (station, river, gauge zero, three
   thresholds, GPS position, active) without signal, then sent when the signal returns;
   target: at most 20 taps plus the id and the numbers typed;
2. a lamp-failure work order from the alarm to its verified close; target: at most 5 taps.

Baseline in the same run: the same registration typed field by field (coordinates and
district by hand, no kind from the id, no GPS), as the page worked before. Writes
``bench/results/field.json`` and the screenshots in ``docs/`` (``CITYSENSE_BENCH_DOCS=0``
to skip them).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from playwright.sync_api import BrowserContext, Page

RESULTS = Path(__file__).parent / "results" / "field.json"
DOCS = Path(__file__).parents[1] / "docs"
PHONE = {"width": 390, "height": 844}
HERE = {"latitude": -3.6652, "longitude": 103.8001, "accuracy": 8}
TARGET_REGISTER_TAPS = 20
TARGET_CLOSE_TAPS = 5


@dataclass
class Hands:
    """What a person does on the phone: taps, and characters typed (by kind)."""

    page: Page
    taps: int = 0
    typed_id: int = 0
    typed_numbers: int = 0
    typed_text: int = 0
    steps: list[str] = field(default_factory=list)

    def tap(self, selector: str) -> None:
        self.page.tap(selector)
        self.taps += 1
        self.steps.append(f"tap {selector}")

    def type(self, selector: str, text: str, kind: str) -> None:
        self.tap(selector)
        self.page.fill(selector, text)
        setattr(self, f"typed_{kind}", getattr(self, f"typed_{kind}") + len(text))
        self.steps.append(f"type {len(text)} ({kind})")

    def choose(self, selector: str, value: str) -> None:
        """A select on a phone: one tap opens the list, one picks."""
        self.page.select_option(selector, value)
        self.taps += 2
        self.steps.append(f"choose {selector}={value}")

    def summary(self) -> dict[str, Any]:
        return {
            "taps": self.taps,
            "typed_id": self.typed_id,
            "typed_numbers": self.typed_numbers,
            "typed_text": self.typed_text,
            "steps": self.steps,
        }


GAUGE = {
    "station": "Pagar Agung",
    "river": "Lematang",
    "gauge_zero_m": "61,5",
    "waspada_cm": "250",
    "siaga_cm": "350",
    "awas_cm": "450",
}


def register_gauge_offline(page: Page, device_id: str) -> Hands:
    """The flood-gauge registration as a technician does it now (page already open)."""
    h = Hands(page)
    h.type("#device-id", device_id.lower(), "id")
    h.tap("#find-btn")
    page.wait_for_selector("#device-section:not([hidden])")
    assert page.input_value("#kind") == "flood_gauge", "kind from the AWLR- prefix"
    h.tap("#gps-btn")
    page.wait_for_function("() => document.getElementById('latitude').value !== ''")
    h.type("#m-station", GAUGE["station"], "text")
    h.type("#m-river", GAUGE["river"], "text")
    h.type("#m-gauge_zero_m", GAUGE["gauge_zero_m"], "numbers")
    for t in ("waspada_cm", "siaga_cm", "awas_cm"):
        h.type(f"#{t}", GAUGE[t], "numbers")
    h.choose("#initial-status", "active")
    h.tap("#save-btn")
    return h


def register_gauge_by_hand(page: Page, device_id: str) -> Hands:
    """Baseline: every field typed or picked, as the page worked before this issue."""
    h = Hands(page)
    h.type("#device-id", device_id, "id")
    h.tap("#find-btn")
    page.wait_for_selector("#device-section:not([hidden])")
    h.choose("#kind", "flood_gauge")
    h.type("#name", "AWLR Lematang Pagar Agung", "text")
    h.choose("#district", "Muara Enim")
    h.type("#latitude", "-3.6652", "numbers")
    h.type("#longitude", "103.8001", "numbers")
    h.type("#m-station", GAUGE["station"], "text")
    h.type("#m-river", GAUGE["river"], "text")
    h.type("#m-gauge_zero_m", GAUGE["gauge_zero_m"], "numbers")
    for t in ("waspada_cm", "siaga_cm", "awas_cm"):
        h.type(f"#{t}", GAUGE[t], "numbers")
    h.choose("#initial-status", "active")
    h.tap("#save-btn")
    return h


def close_order(page: Page, order_id: int) -> Hands:
    """Take the task and mark it done, from the Tugas list."""
    h = Hands(page)
    card = f"li.task[data-id='{order_id}']"
    page.wait_for_selector(card)
    h.tap(f"{card} button.accept")
    page.wait_for_selector(f"{card}[data-status='accepted']")
    h.tap(f"{card} button.done")
    page.wait_for_selector(f"{card}[data-status='done']")
    return h


def phone(browser: Any, key: str) -> BrowserContext:
    context: BrowserContext = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        service_workers="allow",
        geolocation=HERE,
        permissions=["geolocation"],
        locale="id-ID",
    )
    context.add_init_script(f"localStorage.setItem('citysense.apiKey', '{key}');")
    return context


def _run(url: str, docs: bool) -> dict[str, Any]:
    # Dev tooling shared with the tests: a served app, Chromium, a network switch.
    from alerts.vocabulary import Rule
    from api.app import create_app
    from core.kinds import builtin_kinds
    from core.settings import load_settings
    from core.storage.api_keys import create_api_key
    from core.storage.pool import create_pool
    from tests.support.browser import chromium
    from tests.support.operations import close_alert, open_alert
    from tests.support.registry import streetlight
    from tests.support.server import serving_in_thread
    from tests.support.switch import switched

    settings = load_settings(database_url=url)
    tag = uuid.uuid4().hex[:6].upper()

    async def on_pool(work: Any) -> Any:
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    def db(work: Any) -> Any:
        # Playwright's sync API owns this thread's event loop: the database gets its own.
        with ThreadPoolExecutor(1) as ex:
            return ex.submit(asyncio.run, on_pool(work)).result()

    key = db(lambda p: create_api_key(p, "Teknisi Bench", "technician"))[1]
    op_key = db(lambda p: create_api_key(p, "Operator Bench", "operator"))[1]
    tech, ops = {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {op_key}"}
    out: dict[str, Any] = {}
    with (
        serving_in_thread(create_app(settings, builtin_kinds())) as base,
        switched(base) as net,
        chromium() as browser,
    ):
        # 1. Flood gauge, offline, then synced.
        context = phone(browser, key)
        page = context.new_page()
        page.goto(f"{net.url}/technician/")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        net.cut()
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        gauge_id = f"AWLR-LMT-{tag}"
        hands = register_gauge_offline(page, gauge_id)
        page.wait_for_function("() => document.getElementById('outbox-count').textContent === '1'")
        if docs:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(DOCS / "technician-offline.png"))
        net.restore()
        context.set_offline(False)
        page.wait_for_selector("#outbox-section", state="hidden")
        page.wait_for_selector("#credentials:not([hidden])")
        stored = httpx.get(f"{base}/devices/{gauge_id}", headers=tech).json()
        assert stored["status"] == "active", stored
        assert stored["mounting"]["gauge_zero_m"] == 61.5, stored
        out["register_gauge_offline"] = {
            **hands.summary(),
            "target_taps": TARGET_REGISTER_TAPS,
            "meets_target": hands.taps <= TARGET_REGISTER_TAPS,
        }
        context.close()

        # Baseline: the same details typed by hand, online.
        context = phone(browser, key)
        page = context.new_page()
        page.goto(f"{net.url}/technician/")
        page.wait_for_selector("body[data-ready='1']")
        base_hands = register_gauge_by_hand(page, f"AWLR-HND-{tag}")
        page.wait_for_selector("#credentials:not([hidden])")
        out["baseline_register_by_hand"] = base_hands.summary()
        context.close()

        # Errors where the thumb is (a screenshot for the README).
        if docs:
            context = phone(browser, key)
            page = context.new_page()
            page.goto(f"{net.url}/technician/")
            page.wait_for_selector("body[data-ready='1']")
            page.fill("#device-id", f"AWLR-ERR-{tag}")
            page.tap("#find-btn")
            page.wait_for_selector("#device-section:not([hidden])")
            page.tap("#gps-btn")
            page.wait_for_function("() => document.getElementById('latitude').value !== ''")
            page.select_option("#initial-status", "active")
            page.tap("#save-btn")
            page.wait_for_selector(".field-error[data-for='station']")
            page.screenshot(path=str(DOCS / "technician-errors.png"))
            context.close()

        # 2. A lamp failure from the alarm to the verified close.
        lamp = f"PJU-LK-{tag}"
        r = httpx.post(
            f"{base}/devices",
            json=streetlight(lamp, status="active", latitude=-3.6660, longitude=103.8012),
            headers=tech,
        )
        assert r.status_code == 201, r.text

        async def alarm(pool: Any) -> int:
            alert, _ = await open_alert(
                pool, Rule.LAMP_FAILURE, lamp, device_id=lamp,
                message=f"lamp failure reported by {lamp}",
            )  # fmt: skip
            return alert.id

        alert_id = db(alarm)
        opened = httpx.post(f"{base}/work-orders/watch", headers=ops).json()["opened"]
        orders = httpx.get(f"{base}/work-orders", headers=tech).json()
        order = next(o for o in orders if o["alert_id"] == alert_id)
        assert order["id"] in opened
        context = phone(browser, key)
        page = context.new_page()
        page.goto(f"{net.url}/technician/")
        page.wait_for_selector("body[data-tasks='1']")
        if docs:
            page.screenshot(path=str(DOCS / "technician-tasks.png"))
        hands = close_order(page, order["id"])
        db(lambda p: close_alert(p, Rule.LAMP_FAILURE, lamp, note="on"))
        verified = httpx.post(f"{base}/work-orders/watch", headers=ops).json()["verified"]
        assert order["id"] in verified
        events = httpx.get(f"{base}/work-orders/{order['id']}/events", headers=tech).json()
        out["close_lamp_order"] = {
            **hands.summary(),
            "events": [e["event"] for e in events],
            "target_taps": TARGET_CLOSE_TAPS,
            "meets_target": hands.taps <= TARGET_CLOSE_TAPS,
        }
        context.close()
        if docs:
            label = httpx.get(f"{base}/devices/{gauge_id}/label.png", headers=tech)
            (DOCS / "technician-label.png").write_bytes(label.content)
    return out


def main() -> int:
    docs = os.environ.get("CITYSENSE_BENCH_DOCS", "1") != "0"
    server = os.environ.get(
        "CITYSENSE_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"citysense_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    from core.storage.migrate import migrate

    try:
        migrate(url, retention_days=730)
        out = _run(url, docs)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    reg, base, close = (
        out["register_gauge_offline"],
        out["baseline_register_by_hand"],
        out["close_lamp_order"],
    )
    out["taps_ratio_vs_baseline"] = round(reg["taps"] / base["taps"], 2)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"flood gauge, offline then synced: {reg['taps']} taps (target <= "
        f"{TARGET_REGISTER_TAPS}), typed id {reg['typed_id']} + numbers "
        f"{reg['typed_numbers']} + text {reg['typed_text']} characters\n"
        f"baseline by hand: {base['taps']} taps, typed id {base['typed_id']} + numbers "
        f"{base['typed_numbers']} + text {base['typed_text']}"
        f" (taps x{out['taps_ratio_vs_baseline']})\n"
        f"lamp-failure order to verified close: {close['taps']} taps (target <= "
        f"{TARGET_CLOSE_TAPS}), typed {close['typed_text']}; steps {close['events']}"
        f"\n-> {RESULTS}"
    )
    return 0 if reg["meets_target"] and close["meets_target"] else 1
