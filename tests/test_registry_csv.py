"""Bulk CSV import: the whole file is checked first; every bad line is reported."""

from __future__ import annotations

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from devices.csv_io import parse_csv
from tests.support.api import api_client
from tests.support.registry import role_keys

pytestmark = pytest.mark.anyio


def _file(uid: str) -> str:
    return (
        "id,kind,name,district,village,latitude,longitude,status,pole_number,uplink_id,"
        "station,river,gauge_zero_m,waspada_cm,siaga_cm,awas_cm,uplink\n"
        f"N-{uid},network_node,Node Lubai,Lubai,,-3.6701,104.3124,active,,,,,,,,,VSAT\n"
        f"S1-{uid},streetlight,Lampu 1,Lubai,Beringin,-3.67,104.31,installed,P-1,N-{uid},,,,,,,\n"
        f"S2-{uid},streetlight,Lampu 2,Lubay,,-3.67,104.31,installed,P-2,,,,,,,,\n"
        f"S3-{uid},streetlight,Lampu 3,Lubai,,-6.2,106.8,installed,P-3,,,,,,,,\n"
        f"S1-{uid},streetlight,dup,Lubai,,-3.67,104.31,planned,,,,,,,,,\n"
        f"G1-{uid},flood_gauge,AWLR,Muara Enim,,-3.66,103.80,active,,,"
        "Sukaraja,Enim,57.2,300,450,522,\n"
        f"G2-{uid},flood_gauge,AWLR,Muara Enim,,-3.66,103.80,active,,,X,Enim,abc,300,250,522,\n"
        f"S4-{uid},streetlight,Lampu 4,Lubai,,-3.67,104.31,retired,,,,,,,,,\n"
    )


async def _count(pool: asyncpg.Pool, uid: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM devices WHERE id LIKE '%-' || $1", uid))


async def test_bad_rows_are_all_reported_and_nothing_is_imported_unless_asked(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    tech = keys["technician"]
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.post("/devices/import", content=_file(uid).encode(), headers=tech)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["imported"] == 0
        assert body["rows"] == 8
        assert "nothing imported" in body["message"]
        errors = [(e["line"], e["field"]) for e in body["errors"]]
        assert errors == [
            (4, "district"),
            (5, "latitude"),
            (6, "id"),
            (8, "gauge_zero_m"),
            (8, "siaga_cm"),
            (9, "status"),
        ], body["errors"]
        reasons = {e["line"]: e["reason"] for e in body["errors"]}
        assert "did you mean 'Lubai'?" in reasons[4]
        assert "outside Kabupaten Muara Enim" in reasons[5]
        assert "also on line 3" in reasons[6]
        assert await _count(pool, uid) == 0

        r = await http.post(
            "/devices/import",
            content=_file(uid).encode(),
            params={"import_good": "true"},
            headers=tech,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["imported"] == 3
        assert {c["username"] for c in body["credentials"]} == {
            f"N-{uid}",
            f"S1-{uid}",
            f"G1-{uid}",
        }
        assert await _count(pool, uid) == 3
        s1 = (await http.get(f"/devices/S1-{uid}")).json()
        assert s1["uplink_id"] == f"N-{uid}"
        assert s1["mounting"] == {"pole_number": "P-1"}
        assert s1["batch"] == body["batch"]
        g1 = (await http.get(f"/devices/G1-{uid}")).json()
        assert (g1["waspada_cm"], g1["siaga_cm"], g1["awas_cm"]) == (300, 450, 522)
        journal = (await http.get(f"/devices/G1-{uid}/journal")).json()
        assert journal[0]["action"] == "imported"

        # The same file again: every row is now a duplicate of a registered device.
        r = await http.post("/devices/import", content=_file(uid).encode(), headers=tech)
        dup_lines = [e["line"] for e in r.json()["errors"] if "already registered" in e["reason"]]
        assert dup_lines == [2, 3, 7]


async def test_bom_semicolons_and_indonesian_headers_are_read(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    keys = await role_keys(pool, uid)
    data = (
        "\ufeffLabel;Jenis;Kecamatan;Desa;Lat;Lng;Status;No Tiang\n"
        f"BOM-{uid};streetlight;Gelumbang;Gelumbang;-3,2135;104,4197;installed;T-9\n"
    ).encode()
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.post("/devices/import", content=data, headers=keys["technician"])
        assert r.status_code == 200, r.text
        d = (await http.get(f"/devices/BOM-{uid}")).json()
        assert (d["latitude"], d["longitude"]) == (-3.2135, 104.4197)
        assert d["village"] == "Gelumbang"
        assert d["mounting"] == {"pole_number": "T-9"}


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        (
            "id,kind,district\nA,streetlight,Muara Enim\nB,streetlight,Tanjung Agung é\n".encode(
                "latin-1"
            ),
            3,
            "not UTF-8 (byte 0xe9",
        ),
        (b"id,kind,kecamatan_x\nA,streetlight,Lubai\n", 1, "unknown column"),
        (b"id,kind\nA,streetlight\n", 1, "missing column 'district'"),
        (b"", 1, "empty"),
        ("id,kind,district\n".encode("utf-16"), 1, "UTF-16"),
        (b"id,kind,district\nA,streetlight,Lubai,extra\n", 2, "3 columns"),
    ],
)
def test_file_level_problems_name_the_line_and_the_fix(
    data: bytes, line: int, fragment: str
) -> None:
    parsed = parse_csv(data)
    assert parsed.errors, parsed
    assert parsed.errors[0].line == line
    assert fragment in parsed.errors[0].reason
    assert parsed.rows == [] or line > 1


def test_renamed_header_gets_a_suggestion() -> None:
    parsed = parse_csv(b"id,kind,distrct\nA,streetlight,Lubai\n")
    reasons = [e.reason for e in parsed.errors]
    assert any("did you mean 'district'?" in r for r in reasons), reasons
    assert any("missing column 'district'" in r for r in reasons), reasons
