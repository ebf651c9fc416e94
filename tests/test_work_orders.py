"""Work orders hang off alarms: opened by rule or by an operator, taken and finished by a
technician, verified only when the alarm resolves, otherwise back in the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from alerts.vocabulary import Rule
from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.registry import list_journal
from tests.support.api import api_client
from tests.support.operations import close_alert, open_alert
from tests.support.registry import role_keys, streetlight
from workorders.lifecycle import (
    TRANSITIONS,
    OrderEvent,
    OrderStatus,
    OrderTransitionError,
    Priority,
    apply,
)
from workorders.service import WorkOrders

MIGRATION = Path(__file__).parents[1] / "core/storage/migrations/0014_field_work.sql"


@pytest.mark.parametrize("event", list(OrderEvent.__members__.values())[1:])
@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_event_in_every_status_is_allowed_or_refused_by_the_table(
    status: OrderStatus, event: OrderEvent
) -> None:
    allowed = TRANSITIONS[event]
    if status in allowed:
        assert apply(status.value, event) is allowed[status]
    else:
        with pytest.raises(OrderTransitionError, match=f"a {status.value} order cannot be"):
            apply(status.value, event)


def test_the_sql_check_lists_match_the_enums() -> None:
    sql = MIGRATION.read_text()
    checks = re.findall(r"CHECK \((status|priority) IN \(([^)]*)\)\)", sql)
    found = {(name, frozenset(re.findall(r"'(\w+)'", values))) for name, values in checks}
    assert ("status", frozenset(s.value for s in OrderStatus)) in found
    assert ("priority", frozenset(p.value for p in Priority)) in found


async def _lamp_alert(pool: asyncpg.Pool, did: str) -> int:
    alert, _ = await open_alert(
        pool, Rule.LAMP_FAILURE, did, device_id=did, message=f"lamp failure reported by {did}"
    )
    return alert.id


@pytest.mark.anyio
async def test_a_lamp_failure_becomes_an_order_that_closes_when_the_lamp_works_again(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech, viewer, operator = keys["technician"], keys["viewer"], keys["operator"]
    did = f"PJU-WO-{uid}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        assert (await http.post("/devices", json=streetlight(did), headers=tech)).status_code == 201
        alert_id = await _lamp_alert(pool, did)
        watched = (await http.post("/work-orders/watch", headers=operator)).json()
        orders = (await http.get("/work-orders")).json()
        order = next(o for o in orders if o["alert_id"] == alert_id)
        assert order["id"] in watched["opened"]
        assert order == {
            **order, "device_id": did, "priority": "normal", "status": "open",
            "alert_rule": "lamp_failure", "place": "Tanjung Enim, Lawang Kidul",
            "latitude": -3.7735,
        }  # fmt: skip
        # A second round or an operator does not open a second order for the same alarm.
        assert (
            order["id"]
            not in (await http.post("/work-orders/watch", headers=operator)).json()["opened"]
        )
        again = await http.post("/work-orders", json={"alert_id": alert_id}, headers=operator)
        assert again.status_code == 409

        oid = order["id"]
        assert (await http.post(f"/work-orders/{oid}/accept", headers=viewer)).status_code == 403
        r = await http.post(f"/work-orders/{oid}/accept", headers=tech)
        assert r.json()["holder"] == f"technician-{uid}"
        assert (await http.post(f"/work-orders/{oid}/accept", headers=tech)).status_code == 409
        mine = (await http.get("/work-orders", params={"mine": "true"}, headers=tech)).json()
        assert [o["id"] for o in mine] == [oid]
        r = await http.post(
            f"/work-orders/{oid}/done", json={"note": "lampu LED diganti"}, headers=tech
        )
        assert r.json()["status"] == "done"
        # Done is not verified: the alarm is still active.
        await http.post("/work-orders/watch", headers=operator)
        live = (await http.get("/work-orders")).json()
        assert next(o for o in live if o["id"] == oid)["status"] == "done"
        # The lamp reports healthy: the evaluator resolves the alarm; the order is verified.
        await close_alert(pool, Rule.LAMP_FAILURE, did)
        watched = (await http.post("/work-orders/watch", headers=operator)).json()
        assert oid in watched["verified"]
        done = (await http.get("/work-orders", params={"status": "verified"})).json()
        assert next(o for o in done if o["id"] == oid)["verified_at"] is not None
        steps = (await http.get(f"/work-orders/{oid}/events")).json()
        assert [s["event"] for s in steps] == ["created", "accepted", "done", "verified"]
        assert steps[2]["note"] == "lampu LED diganti"
    journal = [e.action for e in reversed(await list_journal(pool, did))]
    assert journal[-4:] == [
        "work_order_created", "work_order_accepted", "work_order_done", "work_order_verified"
    ]  # fmt: skip


@pytest.mark.anyio
async def test_an_order_done_while_the_alarm_stays_active_returns_to_the_queue_with_the_reason(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    did = f"PJU-WR-{uid}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        assert (await http.post("/devices", json=streetlight(did), headers=tech)).status_code == 201
        alert_id = await _lamp_alert(pool, did)
        r = await http.post(
            "/work-orders",
            json={"alert_id": alert_id, "priority": "high"},
            headers=keys["operator"],
        )
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        await http.post(f"/work-orders/{oid}/accept", headers=tech)
        other = keys["admin"]
        assert (
            await http.post(f"/work-orders/{oid}/done", headers=other, json={})
        ).status_code == (409), "only the holder finishes"
        await http.post(f"/work-orders/{oid}/done", headers=tech, json={})
    later = datetime.now(UTC) + timedelta(minutes=31)
    result = await WorkOrders(pool, grace=timedelta(minutes=30)).watch_once(later)
    assert oid in result.returned
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        back = next(o for o in (await http.get("/work-orders")).json() if o["id"] == oid)
    assert (back["status"], back["holder"], back["priority"]) == ("open", None, "high")
    assert "alarm masih aktif" in back["returned_reason"]
