"""The registry over HTTP: lifecycle, journal, roles, filters, exports, labels, claims."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.dead_letters import DeadLetter, insert_dead_letters
from devices.credentials import verify
from tests.support.api import api_client
from tests.support.registry import gauge, role_keys, streetlight

pytestmark = pytest.mark.anyio


async def test_register_issues_credentials_once_and_stores_only_a_hash(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.post("/devices", json=gauge(f"AWLR-{uid}"), headers=keys["technician"])
        assert r.status_code == 201, r.text
        body = r.json()
        password = body["credentials"]["password"]
        assert body["credentials"]["username"] == f"AWLR-{uid}"
        assert body["credentials"]["topic_prefix"] == f"citysense/v1/flood_gauge/AWLR-{uid}/"
        assert body["device"]["waspada_cm"] == 300
        assert body["device"]["mounting"]["river"] == "Enim"
        again = await http.get(f"/devices/AWLR-{uid}")
        assert password not in again.text
        assert again.json()["has_credentials"] is True
    stored = await pool.fetchval(
        "SELECT password_hash FROM device_credentials WHERE device_id = $1", f"AWLR-{uid}"
    )
    assert stored.startswith("$7$101$")
    assert password not in stored
    assert verify(password, stored)


async def test_lifecycle_allows_only_sensible_moves_and_journals_each(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    did = f"PJU-{uid}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.post("/devices", json=streetlight(did, status="planned"), headers=tech)
        assert r.status_code == 201, r.text

        async def move(
            status: str, note: str | None = None, who: dict[str, str] = tech
        ) -> tuple[int, str]:
            resp = await http.post(
                f"/devices/{did}/status", json={"status": status, "note": note}, headers=who
            )
            return resp.status_code, resp.text

        code, text = await move("active")
        assert code == 409
        assert "from planned the next status is one of: decommissioned, installed" in text
        assert (await move("installed"))[0] == 200
        assert (await move("active"))[0] == 200
        assert (await move("maintenance", "lamp driver replaced"))[0] == 200
        code, text = await move("planned")
        assert code == 409
        assert (await move("active"))[0] == 200
        code, text = await move("bogus")
        assert code == 409
        assert "unknown status 'bogus'" in text
        code, text = await move("decommissioned", "pole knocked down")
        assert code == 403
        assert "supervisor" in text
        sup = keys["supervisor"]
        assert (await move("decommissioned", "pole knocked down", sup))[0] == 200
        code, text = await move("active")
        assert code == 409
        assert "register the replacement under a new id" in text

        r = await http.patch(f"/devices/{did}", json={"village": "Darmo"}, headers=tech)
        assert r.status_code == 200, r.text
        r = await http.post(f"/devices/{did}/notes", json={"note": "label faded"}, headers=tech)
        assert r.status_code == 201

        journal = (await http.get(f"/devices/{did}/journal")).json()
        actions = [(e["action"], e["changes"].get("status")) for e in reversed(journal)]
        assert actions == [
            ("registered", [None, "planned"]),
            ("status", ["planned", "installed"]),
            ("status", ["installed", "active"]),
            ("status", ["active", "maintenance"]),
            ("status", ["maintenance", "active"]),
            ("status", ["active", "decommissioned"]),
            ("credentials_revoked", None),
            ("moved", None),
            ("note", None),
        ]
        assert {e["actor"] for e in journal if e["action"] != "credentials_revoked"} - {
            f"technician-{uid}"
        } == {f"supervisor-{uid}"}
        assert journal[1]["changes"] == {"village": ["Tanjung Enim", "Darmo"]}
        assert journal[0]["note"] == "label faded"
        maintenance = next(
            e for e in journal if e["changes"].get("status") == ["active", "maintenance"]
        )
        assert maintenance["note"] == "lamp driver replaced"
        assert datetime.fromisoformat(journal[0]["at"]) <= datetime.now(UTC)
        assert (await http.get(f"/devices/{did}")).json()["has_credentials"] is False
        r = await http.post(f"/devices/{did}/credentials", headers=tech)
        assert r.status_code == 409
        assert "decommissioned" in r.text


async def test_bad_input_names_the_field_and_writes_nothing(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    cases = [
        (
            streetlight(f"A-{uid}", latitude=-6.2, longitude=106.8),
            "is outside Kabupaten Muara Enim",
        ),
        (streetlight(f"B-{uid}", latitude=103.8349, longitude=-3.7735), "look swapped"),
        (streetlight(f"C-{uid}", latitude=3.7735), "latitude sign looks wrong"),
        (streetlight(f"D-{uid}", district="Lawang Kidull"), "did you mean 'Lawang Kidul'?"),
        (streetlight(f"E-{uid}", district="Jakarta Selatan"), "use one of: Tanjung Agung"),
        (streetlight(f"F-{uid}", kind="toaster"), "unknown kind 'toaster'"),
        (streetlight(f"G-{uid}", waspada_cm=1, siaga_cm=2, awas_cm=3), "only flood gauges"),
        (gauge(f"H-{uid}", siaga_cm=200), "thresholds must rise"),
        (streetlight(f"I-{uid}", status="maintenance"), "a new device starts as one of"),
        (streetlight(f"J-{uid}", uplink_id=f"NOPE-{uid}"), "is not registered"),
        (streetlight("bad id!"), "is not a valid label"),
        (streetlight(f"K-{uid}", mounting={"river": "Enim"}), "mounting.river"),
    ]
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        for body, fragment in cases:
            r = await http.post("/devices", json=body, headers=tech)
            assert r.status_code == 422, (body, r.text)
            assert fragment in r.json()["detail"], (fragment, r.text)
        ok = await http.post("/devices", json=streetlight(f"Z-{uid}"), headers=tech)
        assert ok.status_code == 201
        dup = await http.post("/devices", json=streetlight(f"Z-{uid}"), headers=tech)
        assert dup.status_code == 409
        assert "already registered" in dup.json()["detail"]
        for service in ("citysense-ingest", "citysense-ingest-0", "citysense-commands"):
            taken = await http.post("/devices", json=streetlight(service), headers=tech)
            assert taken.status_code == 409
            assert "reserved for the platform's own broker accounts" in taken.json()["detail"]
        moved = await http.patch(
            f"/devices/Z-{uid}", json={"latitude": -6.2, "longitude": 106.8}, headers=tech
        )
        assert moved.status_code == 422
        kind = await http.patch(f"/devices/Z-{uid}", json={"kind": "flood_gauge"}, headers=tech)
        assert kind.status_code == 422
        # A planned device without a place may be dropped, but not installed.
        nowhere = {"id": f"P-{uid}", "kind": "streetlight", "district": "Lubai"}
        assert (await http.post("/devices", json=nowhere, headers=tech)).status_code == 201
        r = await http.post(f"/devices/P-{uid}/status", json={"status": "installed"}, headers=tech)
        assert r.status_code == 422
        assert "set the device's location" in r.text
        r = await http.post(
            f"/devices/P-{uid}/status", json={"status": "decommissioned"}, headers=keys["admin"]
        )
        assert r.status_code == 200, r.text
    count = await pool.fetchval("SELECT count(*) FROM devices WHERE id LIKE '%' || $1", uid)
    assert count == 2
    assert (
        await pool.fetchval("SELECT count(*) FROM device_journal WHERE device_id = $1", f"Z-{uid}")
        == 1
    )
    assert await pool.fetchval(
        "SELECT latitude FROM devices WHERE id = $1", f"Z-{uid}"
    ) == pytest.approx(-3.7735)


async def test_role_matrix_for_every_mutating_endpoint(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    closed = settings.model_copy(update={"public_read": False})
    keys = await role_keys(pool, uid)
    callers: dict[str, dict[str, str]] = {**keys, "nobody": {}}
    field = {"admin", "supervisor", "technician"}
    above = {"admin", "supervisor"}
    async with api_client(create_app(closed, kinds, pool=pool)) as http:
        # Devices per caller, registered by an admin, so each mutation has a fresh target.
        for who in callers:
            for body in (
                streetlight(f"RM-{who}-{uid}"),  # installed: not yet in service
                streetlight(f"RA-{who}-{uid}", status="active"),
                streetlight(f"RD-{who}-{uid}"),
                gauge(f"RG-{who}-{uid}"),
            ):
                r = await http.post("/devices", json=body, headers=keys["admin"])
                assert r.status_code == 201, r.text
            await insert_dead_letters(
                pool,
                [
                    DeadLetter(
                        datetime.now(UTC),
                        f"citysense/v1/streetlight/UNREG-{who}-{uid}/telemetry",
                        f"UNREG-{who}-{uid}",
                        "unknown_device",
                        "not registered",
                        b"{}",
                    )
                ],
            )
        for who, headers in callers.items():
            target = f"RM-{who}-{uid}"
            csv_body = f"id,kind,district\nIMP-{who}-{uid},streetlight,Lubai\n".encode()
            same = {"waspada_cm": 300, "siaga_cm": 450, "awas_cm": 522, "name": "same levels"}
            silenced = {"waspada_cm": 2997, "siaga_cm": 2998, "awas_cm": 2999}
            calls = [
                ("POST", "/devices", {"json": streetlight(f"NEW-{who}-{uid}")}, 201, field),
                ("PATCH", f"/devices/{target}", {"json": {"name": "renamed"}}, 200, field),
                ("POST", f"/devices/{target}/notes", {"json": {"note": "hello"}}, 201, field),
                ("POST", f"/devices/{target}/credentials", {}, 200, field),
                ("POST", f"/devices/RA-{who}-{uid}/credentials", {}, 200, above),
                ("POST", f"/devices/{target}/status", {"json": {"status": "active"}}, 200, field),
                (
                    "POST",
                    f"/devices/RD-{who}-{uid}/status",
                    {"json": {"status": "decommissioned"}},
                    200,
                    above,
                ),
                ("PATCH", f"/devices/RG-{who}-{uid}", {"json": same}, 200, field),
                ("PATCH", f"/devices/RG-{who}-{uid}", {"json": silenced}, 200, above),
                ("POST", "/devices/import", {"content": csv_body}, 200, field),
                (
                    "POST",
                    "/device-models",
                    {
                        "json": {
                            "id": f"M-{who}-{uid}",
                            "kind": "streetlight",
                            "manufacturer": f"PT {who} {uid}",
                            "model": "LED 60W",
                        }
                    },
                    201,
                    field,
                ),
                (
                    "POST",
                    f"/unregistered-devices/UNREG-{who}-{uid}/claim",
                    {"json": {"district": "Lubai", "status": "planned"}},
                    201,
                    field,
                ),
            ]
            for method, path, kw, ok, allowed in calls:
                r = await http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
                if who == "nobody":
                    expect = 401
                elif who in allowed:
                    expect = ok
                else:
                    expect = 403
                assert r.status_code == expect, (who, method, path, r.text)
            gauge_now = (await http.get(f"/devices/RG-{who}-{uid}", headers=keys["admin"])).json()
            silenced_by_them = gauge_now["awas_cm"] == 2999
            assert silenced_by_them == (who in above), (who, gauge_now)
        # Readers may list but not change.
        for who in ("operator", "viewer"):
            assert (await http.get("/devices", headers=keys[who])).status_code == 200
        assert (await http.get("/devices")).status_code == 401


async def test_filters_pagination_geojson_and_csv_export(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        node = {
            "id": f"NODE-{uid}", "kind": "network_node", "district": "Lubai",
            "latitude": -3.6701, "longitude": 104.3124, "status": "active",
            "mounting": {"uplink": "vsat"},
        }  # fmt: skip
        r = await http.post("/devices", json=node, headers=tech)
        assert r.status_code == 201, r.text
        assert r.json()["device"]["mounting"] == {"uplink": "VSAT"}
        for i in range(5):
            body = streetlight(
                f"FLT-{uid}-{i}",
                name=f"Lampu {uid} {i}" if i else f'=HYPERLINK("x") {uid}',
                district="Lubai" if i % 2 else "Lawang Kidul",
                latitude=-3.6701 if i % 2 else -3.7735,
                longitude=104.3124 if i % 2 else 103.8349,
                uplink_id=f"NODE-{uid}",
            )
            assert (await http.post("/devices", json=body, headers=tech)).status_code == 201
        gauge_up = await http.post(
            "/devices", json=gauge(f"G-{uid}", uplink_id=f"FLT-{uid}-0"), headers=tech
        )
        assert gauge_up.status_code == 422
        assert "is a streetlight, not a network_node" in gauge_up.text

        page = (
            await http.get("/devices", params={"q": uid, "kind": "streetlight", "limit": 2})
        ).json()
        assert page["total"] == 5
        assert [d["id"] for d in page["items"]] == [f"FLT-{uid}-0", f"FLT-{uid}-1"]
        page2 = (
            await http.get(
                "/devices", params={"q": uid, "kind": "streetlight", "limit": 2, "offset": 4}
            )
        ).json()
        assert [d["id"] for d in page2["items"]] == [f"FLT-{uid}-4"]
        lubai = (await http.get("/devices", params={"q": uid, "district": "lubai"})).json()
        assert {d["id"] for d in lubai["items"]} == {f"NODE-{uid}", f"FLT-{uid}-1", f"FLT-{uid}-3"}
        box = (
            await http.get("/devices", params={"q": uid, "bbox": "104.3,-3.7,104.4,-3.6"})
        ).json()
        assert box["total"] == 3
        planned = (await http.get("/devices", params={"q": uid, "status": "planned"})).json()
        assert planned["total"] == 0
        bad = await http.get("/devices", params={"bbox": "1,2,3"})
        assert bad.status_code == 422
        assert "min_lon,min_lat,max_lon,max_lat" in bad.text

        geo = await http.get("/devices.geojson", params={"q": uid})
        assert geo.headers["content-type"].startswith("application/geo+json")
        features = geo.json()["features"]
        assert len(features) == 6
        f0 = next(f for f in features if f["id"] == f"FLT-{uid}-0")
        assert f0["geometry"]["coordinates"] == [103.8349, -3.7735]
        assert f0["properties"]["uplink_id"] == f"NODE-{uid}"

        exported = await http.get("/devices.csv", params={"q": uid})
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == 6
        formula = next(r for r in rows if r["id"] == f"FLT-{uid}-0")
        assert formula["name"].startswith("'=HYPERLINK"), "no formulas run from an export"
        row = next(r for r in rows if r["id"] == f"FLT-{uid}-2")
        assert row["pole_number"] == "P-017"
        assert row["uplink_id"] == f"NODE-{uid}"
        assert row["latitude"] == "-3.7735"


async def test_labels_svg_png_and_batch_sheet(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        data = "id;kind;district\n" + "".join(
            f"LBL-{uid}-{i};streetlight;Lubai\n" for i in range(30)
        )
        r = await http.post("/devices/import", content=data.encode(), headers=keys["technician"])
        assert r.status_code == 200, r.text
        batch = r.json()["batch"]
        svg = await http.get(f"/devices/LBL-{uid}-1/label.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert f"LBL-{uid}-1" in svg.text
        assert '<path d="M' in svg.text
        png = await http.get(f"/devices/LBL-{uid}-1/label.png")
        assert png.content.startswith(b"\x89PNG")
        sheet = await http.get("/device-labels", params={"batch": batch})
        assert sheet.status_code == 200
        assert sheet.text.count('class="page"') == 2  # 27 labels per A4 page
        assert sheet.text.count(f"LBL-{uid}-") == 30
        missing = await http.get("/device-labels", params={"batch": "nope"})
        assert missing.status_code == 404


async def test_unregistered_publishers_can_be_claimed(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    did = f"ROGUE-{uid}"
    now = datetime.now(UTC)
    await insert_dead_letters(
        pool,
        [
            DeadLetter(
                now, f"citysense/v1/flood_gauge/{did}/telemetry", did, "unknown_device", "x", b"{}"
            )
            for _ in range(3)
        ],
    )
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        found = {u["device_id"]: u for u in (await http.get("/unregistered-devices")).json()}
        assert found[did]["kind"] == "flood_gauge"
        assert found[did]["messages"] == 3
        r = await http.post(
            f"/unregistered-devices/{did}/claim",
            json={"district": "Tanjung Agung", "latitude": -3.8974, "longitude": 103.8125,
                  "status": "active"},
            headers=keys["technician"],
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["device"]["kind"] == "flood_gauge"
        assert r.json()["credentials"]["password"]
        after = {u["device_id"] for u in (await http.get("/unregistered-devices")).json()}
        assert did not in after
        journal = (await http.get(f"/devices/{did}/journal")).json()
        assert journal[-1]["action"] == "claimed"
        again = await http.post(
            f"/unregistered-devices/{did}/claim", json={"district": "Lubai"},
            headers=keys["technician"],
        )  # fmt: skip
        assert again.status_code == 404


async def test_the_api_uses_the_configured_region_file(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, tmp_path: Path
) -> None:
    doc = json.loads((Path(__file__).parents[1] / "devices/data/muara-enim.json").read_text())
    doc["districts"] = [d for d in doc["districts"] if d["name"] != "Gelumbang"]
    (tmp_path / "region.json").write_text(json.dumps(doc))
    split = settings.model_copy(update={"region_file": str(tmp_path / "region.json")})
    keys = await role_keys(pool, uid)
    async with api_client(create_app(split, kinds, pool=pool)) as http:
        meta = (await http.get("/registry/meta")).json()
        assert len(meta["districts"]) == 21
        body = streetlight(f"GLB-{uid}", district="Gelumbang", latitude=-3.2135, longitude=104.4197)
        r = await http.post("/devices", json=body, headers=keys["technician"])
        assert r.status_code == 422
        assert "unknown district 'Gelumbang'" in r.json()["detail"]


async def test_device_models_are_declared_once_and_checked(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    model = {"id": f"PHILIPS-{uid}", "kind": "streetlight", "manufacturer": f"Philips {uid}",
             "model": "BRP392 LED 60W"}  # fmt: skip
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        assert (await http.post("/device-models", json=model, headers=tech)).status_code == 201
        again = await http.post("/device-models", json=model, headers=tech)
        assert again.status_code == 409
        wrong = await http.post(
            "/device-models", json={**model, "id": f"X-{uid}", "kind": "lamp"}, headers=tech
        )
        assert wrong.status_code == 422
        listed = {m["id"] for m in (await http.get("/device-models")).json()}
        assert f"PHILIPS-{uid}" in listed
        ok = await http.post(
            "/devices", json=streetlight(f"M1-{uid}", model_id=f"PHILIPS-{uid}"), headers=tech
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["device"]["model_id"] == f"PHILIPS-{uid}"
        unknown = await http.post(
            "/devices", json=streetlight(f"M2-{uid}", model_id=f"NOPE-{uid}"), headers=tech
        )
        assert unknown.status_code == 422
        assert "unknown model" in unknown.json()["detail"]
        mismatch = await http.post(
            "/devices", json=gauge(f"M3-{uid}", model_id=f"PHILIPS-{uid}"), headers=tech
        )
        assert mismatch.status_code == 422
        assert "is a streetlight model, not flood_gauge" in mismatch.json()["detail"]
