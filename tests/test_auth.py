"""API keys and roles: who may read, who may change, and what production refuses."""

from __future__ import annotations

import hashlib
import secrets

import asyncpg
import pytest
from fastapi import APIRouter
from pydantic import ValidationError

from api.app import create_app
from api.auth import Operator, Resolver, Supervisor, Technician
from core.kinds import KindRegistry
from core.settings import Settings, load_settings
from core.storage.api_keys import create_api_key, revoke_api_key
from tests.support.api import api_client

pytestmark = pytest.mark.anyio


def _app_with_probe_routes(settings: Settings, kinds: KindRegistry, pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
    app = create_app(settings, kinds, pool=pool)
    probe = APIRouter()

    @probe.post("/probe/technician")
    async def tech(p: Technician) -> dict[str, str]:
        return {"name": p.name, "role": p.role.value}

    @probe.post("/probe/operator")
    async def op(p: Operator) -> dict[str, str]:
        return {"name": p.name, "role": p.role.value}

    @probe.post("/probe/resolver")
    async def resolver(p: Resolver) -> dict[str, str]:
        return {"name": p.name, "role": p.role.value}

    @probe.post("/probe/supervisor")
    async def supervisor(p: Supervisor) -> dict[str, str]:
        return {"name": p.name, "role": p.role.value}

    app.include_router(probe)
    return app


async def test_roles_are_enforced_and_revocation_takes_effect(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    roles = ("admin", "supervisor", "technician", "operator", "viewer")
    keys = {role: (await create_api_key(pool, f"t-{role}", role)) for role in roles}
    admitted = {
        "technician": {"admin", "supervisor", "technician"},  # registry work
        "operator": {"admin", "supervisor", "technician", "operator"},  # acknowledge alerts
        "resolver": {"admin", "supervisor", "operator"},  # resolve alerts: not technicians
        "supervisor": {"admin", "supervisor"},
    }
    expected = {
        (route, role): 200 if role in who else 403
        for route, who in admitted.items()
        for role in roles
    }
    async with api_client(_app_with_probe_routes(settings, kinds, pool)) as http:
        for (route, role), status in expected.items():
            r = await http.post(
                f"/probe/{route}", headers={"Authorization": f"Bearer {keys[role][1]}"}
            )
            assert r.status_code == status, (route, role, r.text)
        r = await http.post("/probe/technician")
        assert r.status_code == 401
        assert "Bearer" in r.json()["detail"]
        r = await http.post("/probe/technician", headers={"X-API-Key": "cs_wrong"})
        assert r.status_code == 401
        assert await revoke_api_key(pool, keys["technician"][0].id)
        r = await http.post("/probe/technician", headers={"X-API-Key": keys["technician"][1]})
        assert r.status_code == 401


async def test_reads_need_a_key_when_public_read_is_off(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    closed = settings.model_copy(update={"public_read": False})
    _, viewer = await create_api_key(pool, "wall", "viewer")
    async with api_client(create_app(closed, kinds, pool=pool)) as http:
        r = await http.get("/devices/ANY/readings")
        assert r.status_code == 401
        r = await http.get("/devices/ANY/readings", headers={"X-API-Key": viewer})
        assert r.status_code == 404  # authenticated; the device just does not exist


async def test_only_a_digest_of_each_key_is_stored(pool: asyncpg.Pool) -> None:
    stored, key = await create_api_key(pool, "hash-check", "viewer")
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", stored.id)
    assert row is not None
    assert all(key not in str(v) for v in row.values())
    assert bytes(row["key_hash"]) == hashlib.sha256(key.encode()).digest()


BROKER_ACCOUNT = {"mqtt_username": "citysense-ingest", "mqtt_password": secrets.token_urlsafe(18)}


@pytest.mark.parametrize(
    "key",
    [None, "changeme", "short", "a" * 24, "ab" * 20, "Password" * 4, "abcdefghijklmnopqrstuvwx"],
)
def test_production_refuses_default_missing_or_low_entropy_admin_key(key: str | None) -> None:
    with pytest.raises(ValidationError, match="CITYSENSE_ADMIN_API_KEY"):
        load_settings(environment="production", admin_api_key=key, **BROKER_ACCOUNT)


def test_production_accepts_random_keys_of_every_usual_shape() -> None:
    for key in (secrets.token_urlsafe(), secrets.token_urlsafe(18), secrets.token_hex(16)):
        s = load_settings(environment="production", admin_api_key=key, **BROKER_ACCOUNT)
        assert s.environment == "production"


def test_production_refuses_an_anonymous_broker_and_keeps_public_reads_off() -> None:
    admin = secrets.token_urlsafe()
    with pytest.raises(ValidationError, match="anonymously"):
        load_settings(environment="production", admin_api_key=admin)
    with pytest.raises(ValidationError, match="CITYSENSE_MQTT_PASSWORD"):
        load_settings(
            environment="production",
            admin_api_key=admin,
            mqtt_username="citysense-ingest",
            mqtt_password="x" * 20,
        )
    locked = load_settings(environment="production", admin_api_key=admin, **BROKER_ACCOUNT)
    assert locked.public_read is False
    asked = load_settings(
        environment="production", admin_api_key=admin, public_read=True, **BROKER_ACCOUNT
    )
    assert asked.public_read is True
    assert load_settings().public_read is True  # development: a wall screen just works
