"""An unknown query parameter is a 422 naming the valid ones, on every API route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from tests.support.server import serving

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def api(
    settings: Settings, kinds: KindRegistry, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(create_app(settings, kinds, pool=pool)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("url", "unknown", "valid"),
    [
        ("/readings?kind=flood_gauge&buket=1h", "buket", "bucket"),
        ("/alerts?stauts=open", "stauts", "status"),
        ("/devices?distrct=Lahat", "distrct", "district"),
        ("/healthz?verbose=1", "verbose", "none"),
    ],
)
async def test_an_unknown_query_parameter_is_refused_naming_the_valid_ones(
    settings: Settings,
    kinds: KindRegistry,
    pool: asyncpg.Pool,
    url: str,
    unknown: str,
    valid: str,
) -> None:
    async with api(settings, kinds, pool) as http:
        r = await http.get(url)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"unknown query parameter {unknown!r}" in detail
    assert valid in detail.split("accepts:", 1)[1]


async def test_declared_parameters_and_the_pages_own_parameters_still_work(
    settings: Settings, kinds: KindRegistry, pool: asyncpg.Pool
) -> None:
    async with api(settings, kinds, pool) as http:
        assert (await http.get("/alerts?status=open&limit=5")).status_code == 200
        assert (await http.get("/devices?district=Lahat&limit=1")).status_code == 200
        # Pages outside the API schema read their parameters in the browser.
        assert (await http.get("/ops?lang=en&tiles=none")).status_code == 200
        assert (await http.get("/docs?x=1")).status_code == 200
