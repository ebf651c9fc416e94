"""Tugas on the phone: the lamp-failure order nearest first, taken and finished in two taps
even without signal, verified once the lamp reports healthy (real Chromium)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx

from alerts.vocabulary import Rule
from api.app import create_app
from bench.field import TARGET_CLOSE_TAPS, close_order, phone
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.api_keys import create_api_key
from tests.support.browser import chromium
from tests.support.operations import close_alert, open_alert
from tests.support.registry import streetlight
from tests.support.server import serving_in_thread
from tests.support.switch import switched
from tests.test_technician_page import _db


def _in_thread(database_url: str, work: Any) -> Any:
    with ThreadPoolExecutor(1) as ex:
        return ex.submit(_db, database_url, work).result()


def test_a_lamp_failure_order_is_closed_in_two_taps_offline_and_verified_by_the_lamp(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    near, far = f"PJU-NEAR-{uid}", f"PJU-FAR-{uid}"

    async def setup(pool: asyncpg.Pool) -> tuple[str, str]:
        keys = [
            (await create_api_key(pool, f"tugas-{uid}", role))[1]
            for role in ("technician", "operator")
        ]
        return keys[0], keys[1]

    key, op_key = _db(settings.database_url, setup)
    tech, ops = {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {op_key}"}

    async def alarms(pool: asyncpg.Pool) -> list[int]:
        ids = []
        for did in (far, near):
            alert, _ = await open_alert(
                pool, Rule.LAMP_FAILURE, did, device_id=did, message=f"lamp failure by {did}"
            )
            ids.append(alert.id)
        return ids

    with (
        serving_in_thread(create_app(settings, kinds)) as base,
        switched(base) as net,
        chromium() as browser,
    ):
        for did, lat, lon in ((near, -3.6660, 103.8012), (far, -3.9, 104.1)):
            body = streetlight(did, status="active", latitude=lat, longitude=lon)
            assert httpx.post(f"{base}/devices", json=body, headers=tech).status_code == 201
        far_alert, near_alert = _in_thread(settings.database_url, alarms)
        httpx.post(f"{base}/work-orders/watch", headers=ops).raise_for_status()
        orders = {o["alert_id"]: o for o in httpx.get(f"{base}/work-orders").json()}
        order, other = orders[near_alert], orders[far_alert]

        context = phone(browser, key)
        page = context.new_page()
        page.goto(f"{net.url}/technician/")
        page.wait_for_selector(f"li.task[data-id='{other['id']}']")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        # No signal at the pole: the tasks come from the last sync, nearest first.
        net.cut()
        context.set_offline(True)
        page.reload()
        page.wait_for_selector(f"li.task[data-id='{order['id']}']")
        shown = page.eval_on_selector_all("li.task", "ls => ls.map(l => Number(l.dataset.id))")
        assert shown.index(order["id"]) < shown.index(other["id"]), "nearest first"
        assert "Lampu mati" in page.inner_text(f"li.task[data-id='{order['id']}']")

        hands = close_order(page, order["id"])
        assert hands.taps <= TARGET_CLOSE_TAPS
        assert page.get_attribute(f"li.task[data-id='{order['id']}']", "data-pending") == "1"
        still = next(o for o in httpx.get(f"{base}/work-orders").json() if o["id"] == order["id"])
        assert still["status"] == "open", "nothing left the phone yet"

        net.restore()
        context.set_offline(False)
        page.wait_for_selector("#outbox-section", state="hidden")
        done = next(o for o in httpx.get(f"{base}/work-orders").json() if o["id"] == order["id"])
        assert (done["status"], done["holder"]) == ("done", f"tugas-{uid}")

        # The lamp burns again: the evaluator resolves the alarm and the watcher verifies.
        _in_thread(
            settings.database_url,
            lambda pool: close_alert(pool, Rule.LAMP_FAILURE, near),
        )
        watched = httpx.post(f"{base}/work-orders/watch", headers=ops).json()
        assert order["id"] in watched["verified"]
        events = httpx.get(f"{base}/work-orders/{order['id']}/events").json()
        assert [e["event"] for e in events] == ["created", "accepted", "done", "verified"]
        assert {e["actor"] for e in events[1:3]} == {f"tugas-{uid}"}
        page.click("#tasks-refresh")
        page.wait_for_selector(f"li.task[data-id='{order['id']}']", state="detached")
        context.close()


def test_a_task_taken_by_someone_else_meanwhile_is_shown_refused_and_the_queue_goes_on(
    settings: Settings, kinds: KindRegistry, uid: str
) -> None:
    did = f"PJU-TAKEN-{uid}"

    async def setup(pool: asyncpg.Pool) -> list[str]:
        return [
            (await create_api_key(pool, f"{who}-{uid}", role))[1]
            for who, role in (("ani", "technician"), ("eko", "technician"), ("op", "operator"))
        ]

    ani, eko, op = _db(settings.database_url, setup)
    auth = {"Authorization": f"Bearer {ani}"}

    async def alarm(pool: asyncpg.Pool) -> int:
        alert, _ = await open_alert(
            pool, Rule.LAMP_FAILURE, did, device_id=did, message=f"lamp failure reported by {did}"
        )
        return alert.id

    with (
        serving_in_thread(create_app(settings, kinds)) as base,
        switched(base) as net,
        chromium() as browser,
    ):
        body = streetlight(did, status="active")
        assert httpx.post(f"{base}/devices", json=body, headers=auth).status_code == 201
        alert_id = _in_thread(settings.database_url, alarm)
        httpx.post(
            f"{base}/work-orders",
            json={"alert_id": alert_id},
            headers={"Authorization": f"Bearer {op}"},
        ).raise_for_status()
        order = next(
            o for o in httpx.get(f"{base}/work-orders").json() if o["alert_id"] == alert_id
        )
        card = f"li.task[data-id='{order['id']}']"

        context = phone(browser, ani)
        page = context.new_page()
        page.goto(f"{net.url}/technician/?id={did}")
        page.wait_for_selector(card)
        # The device (and its note field) loads on its own request: have it before the cut.
        page.wait_for_selector("#note", state="visible")
        net.cut()
        context.set_offline(True)
        page.tap(f"{card} button.accept")
        page.fill("#note", "Tiang miring, perlu truk")
        page.tap("#note-btn")
        page.wait_for_function("() => document.getElementById('outbox-count').textContent === '2'")
        # Meanwhile Eko takes the same task.
        taken = httpx.post(
            f"{base}/work-orders/{order['id']}/accept", headers={"Authorization": f"Bearer {eko}"}
        )
        assert taken.status_code == 200
        net.restore()
        context.set_offline(False)
        page.wait_for_selector("#outbox li[data-state='rejected']")
        assert "sudah diambil" in page.inner_text("#outbox li[data-state='rejected']")
        page.wait_for_function("() => document.getElementById('outbox-count').textContent === '1'")
        page.wait_for_selector(f"{card}[data-status='accepted']")
        # Ani's own queued accept also shows as accepted: wait for the server's holder.
        page.wait_for_function(
            "([sel, who]) => document.querySelector(sel).innerText.includes(who)",
            arg=[card, f"eko-{uid}"],
        )
        assert f"eko-{uid}" in page.inner_text(card)
        page.tap("#outbox button.drop")
        page.wait_for_selector("#outbox-section", state="hidden")
        context.close()
    notes = _db(
        settings.database_url,
        lambda pool: pool.fetch(
            "SELECT note FROM device_journal WHERE device_id = $1 AND action = 'note'", did
        ),
    )
    assert [n["note"] for n in notes] == ["Tiang miring, perlu truk"], "the queue went on"
