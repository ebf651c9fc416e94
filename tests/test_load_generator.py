"""The load generator publishes what it says, at the rate it says, as distinct readings."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from simulators.load import run_load
from tests.support.ingest import running_ingest
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def stored(pool: asyncpg.Pool, table: str, prefix: str) -> int:
    return int(
        await pool.fetchval(f"SELECT count(*) FROM {table} WHERE device_id LIKE $1 || '-%'", prefix)
    )


@pytest.mark.parametrize(("k", "processes"), [(1, 1), (5, 2)])
async def test_paced_load_is_stored_in_full(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str, k: int, processes: int
) -> None:
    prefix = f"LD{k}{uid}"
    async with running_ingest(settings, pool, kinds) as service:
        result = await asyncio.to_thread(
            run_load,
            settings,
            devices=30,
            rate=400,
            duration_s=1.5,
            readings_per_message=k,
            processes=processes,
            kind="network_node",
            device_prefix=prefix,
        )
        n = await eventually(
            lambda: stored(pool, "readings_network_node", prefix),
            lambda n: n >= result.sent_readings,
            within=30,
        )
    assert result.sent_messages == 600
    assert result.sent_readings == 600 * k
    assert n == result.sent_readings, "every reading is a distinct (device, time)"
    assert service.stats.dead_letters == 0, "generated values are valid for the kind"
    assert result.target_rate == 400
    assert 300 <= result.achieved_rate <= 440, result


def test_bad_arguments_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="positive"):
        run_load(settings, devices=0, rate=10, duration_s=1, register=False)
    with pytest.raises(ValueError, match="unknown kind"):
        run_load(settings, devices=1, rate=10, duration_s=1, kind="toaster", register=False)
