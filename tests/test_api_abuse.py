"""One anonymous caller cannot hurt the others: answers are bounded in cost and in bytes,
heavy queries beyond the process's capacity are turned away, and /state keeps answering
from memory. Everything here goes through a real uvicorn server over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from api.app import create_app
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow, upsert_devices
from tests.support.server import serving

pytestmark = pytest.mark.anyio


async def _lights(pool: asyncpg.Pool, district: str, n: int, kind: str = "streetlight") -> None:
    await upsert_devices(
        pool,
        [
            DeviceRow(f"PJU-AB-{district}-{i:03d}", kind, "x", "active", district, None, None)
            for i in range(n)
        ],
    )


async def _in_use(pool: asyncpg.Pool) -> int:
    return pool.get_size() - pool.get_idle_size()


async def _body(
    http: httpx.AsyncClient, path: str, params: dict[str, str], limit: int
) -> tuple[int, bytes]:
    """Status and body, reading at most ``limit`` bytes (an unbounded answer is cut here)."""
    got = b""
    async with http.stream("GET", path, params=params) as r:
        async for chunk in r.aiter_bytes():
            got += chunk
            if len(got) > limit:
                break
        return r.status_code, got


async def test_every_aggregate_of_every_field_for_a_month_is_refused_naming_the_fix(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    # the reported attack: kind=streetlight&bucket=15m&from=<30 days ago>&agg=all five
    # (10 lights here: 28,800 rows of 8 fields x 5 aggregates; the old count saw 28,800)
    district = f"Kec-{uid}"
    await _lights(pool, district, 10)
    now = datetime.now(UTC)
    params = {
        "kind": "streetlight",
        "district": district,
        "bucket": "15m",
        "from": (now - timedelta(days=30)).isoformat(),
        "agg": "avg,min,max,last,count",
    }
    async with (
        serving(create_app(settings, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        status, body = await _body(http, "/readings", params, 1 << 20)
        assert status == 422, (status, len(body))
        assert len(body) < 4096
        detail = json.loads(body)["detail"]
        for fix in ("bucket=1h", "field=", "shorter range"):
            assert fix in detail
        # the same question, coarser and narrower, is answered
        ok = await http.get(
            "/readings", params={**params, "bucket": "1h", "agg": "avg", "field": "energy"}
        )
        assert ok.status_code == 200
        assert len(ok.json()["rows"]) >= 10 * 30 * 24  # every hour of every light


async def test_answers_stream_and_stop_at_the_byte_limit_saying_so(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    cap = 64 * 1024
    district = f"Kec-{uid}"
    await _lights(pool, district, 60)
    now = datetime.now(UTC)
    params = {
        "kind": "streetlight",
        "district": district,
        "bucket": "15m",
        "from": (now - timedelta(days=1)).isoformat(),
        "field": "energy",
    }  # 60 x 96 rows, about 550 kB in full
    capped = settings.model_copy(update={"api_max_response_bytes": cap})
    async with (
        serving(create_app(capped, kinds, pool=pool)) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        status, body = await _body(http, "/readings", params, 4 * cap)
        assert status == 200
        assert len(body) <= cap + 512
        doc = json.loads(body)
        assert 0 < len(doc["rows"]) < 60 * 96
        assert "bucket" in doc["truncated"]
        status, text = await _body(http, "/readings", {**params, "format": "csv"}, 4 * cap)
        assert status == 200
        assert len(text) <= cap + 512
        assert text.decode().splitlines()[-1].startswith("# truncated:")
        small = await http.get("/readings", params={**params, "district": "none-such"})
        assert small.status_code == 404


async def test_heavy_queries_beyond_capacity_are_turned_away_while_state_answers_from_memory(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    district = f"Kec-{uid}"
    await _lights(pool, district, 10, kind="flood_gauge")
    limited = settings.model_copy(
        update={"api_heavy_slots": 1, "api_heavy_queue": 0, "api_state_max_age_s": 60.0}
    )
    now = datetime.now(UTC)
    heavy = {
        "kind": "flood_gauge",
        "district": district,
        "bucket": "1m",
        "from": (now - timedelta(days=2)).isoformat(),
        "field": "water_level",
    }  # 28,800 rows each, a few MB
    app = create_app(limited, kinds, pool=pool)
    async with serving(app) as url:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
            assert (await http.get("/state", params={"district": district})).status_code == 200
            jobs = [http.get("/readings", params=heavy) for _ in range(10)]
            jobs += [http.get("/state", params={"district": district}) for _ in range(200)]
            jobs += [http.get("/healthz") for _ in range(10)]
            answers = await asyncio.gather(*jobs)
    heavy_answers, light = answers[:10], answers[10:]
    statuses = sorted(r.status_code for r in heavy_answers)
    assert set(statuses) == {200, 429}, statuses
    for r in heavy_answers:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            assert "retry" in r.json()["detail"]
        else:
            assert len(r.json()["rows"]) >= 10 * 2 * 24 * 60
    assert [r.status_code for r in light] == [200] * 210
    assert all(len(r.json()) == 10 for r in light[:200])
    # 201 /state requests, one database round trip: the first load
    assert app.state.state_cache.refreshes == 1
