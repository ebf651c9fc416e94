"""Now and alerts through the HTTP API: state, GeoJSON, district summary, alert lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import raise_alert
from core.storage.api_keys import create_api_key
from core.storage.batches import write_batch
from core.storage.devices import DeviceRow, upsert_devices
from core.wire import Reading
from tests.support.api import api_client
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_state_flags_online_offline_stale_and_filters(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Kec-{uid}"
    fresh, old, never = f"AWLR-NOW-{uid}", f"PJU-OLD-{uid}", f"NODE-NEVER-{uid}"
    await upsert_devices(
        pool,
        [
            DeviceRow(fresh, "flood_gauge", "Sukaraja", "active", district, -3.9, 103.81),
            DeviceRow(old, "streetlight", "Jl. Sudirman", "active", district, None, None),
            DeviceRow(never, "network_node", "Desa X", "maintenance", district, -3.7, 103.7),
        ],
    )
    now = datetime.now(UTC)
    await write_batch(
        pool,
        kinds,
        [Reading(fresh, "flood_gauge", now - timedelta(minutes=2), {"water_level": 120.0})],
        [],
        now,
    )
    # arrived just now, but its newest reading is from yesterday: online and stale
    await write_batch(
        pool,
        kinds,
        [Reading(old, "streetlight", now - timedelta(days=1), {"power_state": "on"})],
        [],
        now,
    )
    await pool.execute("INSERT INTO flood_levels (device_id, level) VALUES ($1, 'WASPADA')", fresh)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        body = (await http.get("/state", params={"district": district})).json()
        by_id = {s["device_id"]: s for s in body}
        assert set(by_id) == {fresh, old, never}
        f = by_id[fresh]
        assert (f["online"], f["stale"], f["level"], f["values"]) == (
            True,
            False,
            "WASPADA",
            {"water_level": 120.0},
        )
        assert (by_id[old]["online"], by_id[old]["stale"], by_id[old]["level"]) == (
            True,
            True,
            None,
        )
        assert (by_id[never]["online"], by_id[never]["time"]) == (False, None)
        gauges = (
            await http.get("/state", params={"district": district, "kind": "flood_gauge"})
        ).json()
        assert [s["device_id"] for s in gauges] == [fresh]
        offline = (
            await http.get("/state", params={"district": district, "status": "offline"})
        ).json()
        assert [s["device_id"] for s in offline] == [never]
        maint = (
            await http.get("/state", params={"district": district, "status": "maintenance"})
        ).json()
        assert [s["device_id"] for s in maint] == [never]

        geo = await http.get("/state.geojson", params={"district": district})
        assert geo.headers["content-type"].startswith("application/geo+json")
        feats = {f["id"]: f for f in geo.json()["features"]}
        assert feats[fresh]["geometry"] == {"type": "Point", "coordinates": [103.81, -3.9]}
        assert feats[old]["geometry"] is None
        assert feats[fresh]["properties"]["level"] == "WASPADA"

        [summary] = (await http.get("/summary", params={"district": district})).json()
        assert summary["lights"] == {"on": 1, "off": 0, "failed": 0, "unknown": 0}
        assert summary["gauges"]["WASPADA"] == 1
        assert summary["nodes"] == {"up": 0, "down": 1}
        assert (summary["devices"], summary["online"], summary["offline"]) == (3, 2, 1)

        bad = await http.get("/state", params={"kind": "toaster"})
        assert bad.status_code == 422
        assert "use one of" in bad.json()["detail"]


async def test_alert_lifecycle_through_the_api_with_roles_and_409s(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    device = f"AWLR-ACK-{uid}"
    await upsert_devices(
        pool, [DeviceRow(device, "flood_gauge", "g", "active", "Lahat", None, None)]
    )
    alert, change = await raise_alert(
        pool,
        rule="flood_level",
        subject=device,
        device_id=device,
        severity="warning",
        message="SIAGA",
        details={"level": "SIAGA"},
        level=2,
    )
    assert change == "opened"
    _, op_key = await create_api_key(pool, f"ops-{uid}", "operator")
    _, viewer_key = await create_api_key(pool, f"view-{uid}", "viewer")
    op = {"Authorization": f"Bearer {op_key}"}
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        listed = (await http.get("/alerts", params={"device": device, "status": "open"})).json()
        assert [a["id"] for a in listed] == [alert.id]
        assert (await http.post(f"/alerts/{alert.id}/acknowledge")).status_code == 401
        r = await http.post(f"/alerts/{alert.id}/acknowledge", headers={"X-API-Key": viewer_key})
        assert r.status_code == 403
        r = await http.post(f"/alerts/{alert.id}/acknowledge", headers=op)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["acknowledged_by"]) == ("acknowledged", f"ops-{uid}")
        again = await http.post(f"/alerts/{alert.id}/acknowledge", headers=op)
        assert again.status_code == 409
        assert "only an open alert" in again.json()["detail"]
        r = await http.post(f"/alerts/{alert.id}/resolve", headers=op)
        assert (r.json()["status"], r.json()["resolved_by"]) == ("resolved", f"ops-{uid}")
        assert r.json()["acknowledged_at"] is not None
        again = await http.post(f"/alerts/{alert.id}/resolve", headers=op)
        assert again.status_code == 409
        assert "already resolved" in again.json()["detail"]
        assert (await http.post("/alerts/999999999/resolve", headers=op)).status_code == 404
        history = (
            await http.get("/alerts", params={"device": device, "status": "resolved"})
        ).json()
        assert [a["id"] for a in history] == [alert.id]
        assert (
            await http.get("/alerts", params={"district": "Lahat", "kind": "flood_gauge"})
        ).json()[0]["id"] == alert.id
        v = await http.get("/alerts", params={"status": "closed"})
        assert v.status_code == 422
        assert "status" in v.json()["detail"]


async def test_state_follows_readings_registry_and_levels_between_requests(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Kec-{uid}"
    g = f"AWLR-LIVE-{uid}"
    await upsert_devices(
        pool, [DeviceRow(g, "flood_gauge", "old name", "active", district, None, None)]
    )
    now = datetime.now(UTC)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:

        async def mine() -> list[dict[str, object]]:
            r = await http.get("/state", params={"district": district})
            return r.json()  # type: ignore[no-any-return]

        [first] = await mine()
        assert (first["time"], first["values"], first["level"]) == (None, {}, None)
        await write_batch(
            pool,
            kinds,
            [Reading(g, "flood_gauge", now - timedelta(minutes=1), {"water_level": 321.0})],
            [],
            now,
        )
        await upsert_devices(
            pool, [DeviceRow(g, "flood_gauge", "new name", "active", district, -3.9, 103.8)]
        )
        await pool.execute("INSERT INTO flood_levels (device_id, level) VALUES ($1, 'SIAGA')", g)
        added = f"AWLR-NEW-{uid}"
        await upsert_devices(
            pool, [DeviceRow(added, "flood_gauge", "n", "active", district, None, None)]
        )
        # /state is served from memory, refreshed within CITYSENSE_API_STATE_MAX_AGE_S
        after = {
            s["device_id"]: s
            for s in await eventually(
                mine, lambda b: {s["device_id"] for s in b} == {g, added} and b[0]["level"]
            )
        }
        s = after[g]
        assert (s["name"], s["values"], s["level"], s["online"]) == (
            "new name",
            {"water_level": 321.0},
            "SIAGA",
            True,
        )
        geo = (await http.get("/state.geojson", params={"district": district})).json()
        assert {f["id"]: f["geometry"] for f in geo["features"]}[g]["coordinates"] == [103.8, -3.9]


async def test_state_is_sent_gzipped_and_unchanged_state_is_not_sent_again(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Kec-{uid}"
    await upsert_devices(
        pool,
        [
            DeviceRow(f"PJU-GZ-{uid}-{i}", "streetlight", "x", "active", district, None, None)
            for i in range(20)
        ],
    )
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        first = await http.get("/state", params={"district": district})
        assert first.headers["content-encoding"] == "gzip"
        assert len(first.json()) == 20
        again = await http.get(
            "/state",
            params={"district": district},
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""
        plain = await http.get(
            "/state", params={"district": district}, headers={"Accept-Encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert plain.json() == first.json()
