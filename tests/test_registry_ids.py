"""Device ids are one case (upper), unique regardless of case; the kind follows the label."""

from __future__ import annotations

import asyncpg
import pytest

from api.app import create_app
from core.kinds import KindRegistry, builtin_kinds
from core.settings import Settings
from tests.support.api import api_client
from tests.support.registry import role_keys, streetlight

pytestmark = pytest.mark.anyio


def test_the_kind_is_read_from_one_prefix_declaration() -> None:
    kinds = builtin_kinds()
    assert kinds.kind_for_id("AWLR-ENIM-01") == "flood_gauge"
    assert kinds.kind_for_id("pju-lk-0001") == "streetlight"
    assert kinds.kind_for_id("SIM-NODE-0003") == "network_node"
    assert kinds.kind_for_id("X-123") is None
    assert kinds.kind_for_id("PJU-AWLR-1") is None, "two kinds named: the technician picks"


async def test_ids_are_stored_upper_case_and_unique_whatever_the_case(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    tech = (await role_keys(pool, uid))["technician"]
    lower = f"pju-dup-{uid.lower()}"
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        body = streetlight(lower)
        del body["kind"]  # inferred from the PJU- prefix
        r = await http.post("/devices", json=body, headers=tech)
        assert r.status_code == 201, r.text
        assert r.json()["device"]["id"] == lower.upper()
        assert r.json()["device"]["kind"] == "streetlight"
        dup = await http.post("/devices", json=streetlight(lower.upper()), headers=tech)
        assert dup.status_code == 409
        assert dup.json()["errors"][0]["field"] == "id"
        assert "sudah terdaftar" in dup.json()["errors"][0]["pesan"]
        assert (await http.get(f"/devices/{lower}")).json()["id"] == lower.upper()
        check = (await http.get("/registry/id-check", params={"id": lower})).json()
        assert check == {**check, "id": lower.upper(), "valid": True, "registered": True}
        bad = (await http.get("/registry/id-check", params={"id": "no spaces"})).json()
        assert bad["valid"] is False
        assert bad["errors"][0]["field"] == "id"
        fresh = (await http.get("/registry/id-check", params={"id": f"awlr-{uid}"})).json()
        assert (fresh["registered"], fresh["kind"]) == (False, "flood_gauge")
    # The database itself refuses a second spelling (migration 0014's unique index).
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO devices (id, kind, name, status)"
            " VALUES ($1, 'streetlight', '', 'planned')",
            lower,
        )
