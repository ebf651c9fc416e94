"""API requests that are wrong get a 4xx that says how to fix them; health tells the truth."""

from __future__ import annotations

import asyncpg
import pytest

from api.app import create_app
from citysense.local.ports import free_port
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow, upsert_devices
from tests.support.api import api_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"from": "2026-11-28T10:00:00Z", "to": "2026-11-28T09:00:00Z"}, 422, "before 'to'"),
        ({"from": "2026-11-28T10:00:00"}, 422, "needs a UTC offset"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, 422, "narrow it"),
    ],
)
async def test_bad_ranges_are_explained(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    uid: str,
    params: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    device = f"AWLR-{uid}"
    await upsert_devices(pool, [DeviceRow(device, "flood_gauge", "g", "active", None, None, None)])
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.get(f"/devices/{device}/readings", params=params)
    assert r.status_code == status
    assert fragment in r.json()["detail"]


async def test_unknown_device_is_404_with_reason(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    async with api_client(create_app(settings, kinds, pool=pool)) as http:
        r = await http.get("/devices/NO-SUCH-DEVICE/readings")
    assert r.status_code == 404
    assert "not registered" in r.json()["detail"]


async def test_health_is_503_and_names_the_broker_when_it_is_down(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> None:
    dead = settings.model_copy(update={"mqtt_port": free_port()})
    async with api_client(create_app(dead, kinds, pool=pool)) as http:
        r = await http.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False
    assert "broker unavailable" in body["broker"]["detail"]
