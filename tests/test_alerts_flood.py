"""Flood gauges: one alert per flood episode (escalation at once; deadband and dwell before it
steps down or ends), rate of rise; via real ingest."""

from __future__ import annotations

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import acknowledge, alert_history, list_alerts
from tests.support.ingest import running_ingest
from tests.support.operations import ago, publish, register, running_operations
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_flood_is_one_episode_with_its_level_changes_peak_and_end(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    g = f"AWLR-LVL-{uid}"
    await register(pool, "flood_gauge", [g])
    th = FloodThresholds(waspada=100, siaga=200, awas=300, hysteresis_cm=10, dwell_min=2)
    config = AlertConfig(flood_stations={g: th}, rise_cm_per_h=10_000, evaluate_every_s=3600)

    async def alerts() -> list[tuple[int, str, str, str | None]]:
        found = await list_alerts(pool, device_id=g, rule="flood_level")
        return [(a.id, a.status, a.priority, a.level) for a in found]

    minute = 60.0
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):

        async def send(level: float) -> None:
            nonlocal minute
            minute -= 1
            await publish(settings, "flood_gauge", g, [{"ts": ago(minute), "water_level": level}])

        await send(50)
        await eventually(
            lambda: pool.fetchval("SELECT level FROM flood_levels WHERE device_id=$1", g),
            lambda v: v == "NORMAL",
        )
        assert await alerts() == []
        await send(150)
        [(aid, *_)] = await eventually(alerts, lambda a: a and a[0][3] == "WASPADA")
        await send(250)
        assert await eventually(alerts, lambda a: a[0][3] == "SIAGA") == [
            (aid, "open", "high", "SIAGA")
        ]
        async with pool.acquire() as conn:
            assert not isinstance(await acknowledge(conn, aid, "ops-desk"), str)
        await send(350)  # escalation re-opens an acknowledged alert: someone must look again
        assert await eventually(alerts, lambda a: a[0][3] == "AWAS") == [
            (aid, "open", "urgent", "AWAS")
        ]
        await send(40)  # one low reading (a mixed feed) does not end the flood
        await send(295)  # below AWAS, but not by the deadband: holds
        await send(296)
        await ops.idle()
        assert (await alerts())[0][1:] == ("open", "urgent", "AWAS")
        for value in (285, 284, 283):  # below the deadband for the 2-min dwell
            await send(value)
        assert await eventually(alerts, lambda a: a[0][3] == "SIAGA") == [
            (aid, "open", "high", "SIAGA")
        ]
        for value in (40, 41, 42):
            await send(value)
        done = await eventually(alerts, lambda a: a[0][1] == "resolved")
        assert len(done) == 1, "one alert for the whole episode"
    [a] = await list_alerts(pool, device_id=g, rule="flood_level")
    assert (a.resolved_by, a.peak_value, a.level) == ("system", 350.0, "NORMAL")
    timeline = await alert_history(pool, a.id)
    assert [(e.event, e.level, e.value) for e in timeline] == [
        ("raise", "WASPADA", 150.0),
        ("escalate", "SIAGA", 250.0),
        ("acknowledge", "SIAGA", None),
        ("escalate", "AWAS", 350.0),
        ("deescalate", "SIAGA", 283.0),
        ("clear", "NORMAL", 42.0),
    ]
    assert timeline[3].note == "previously acknowledged by ops-desk"
    assert all(e.observed_at is not None for e in timeline if e.by == "system")
    assert "WIB" in a.message, a.message
    assert "puncak 350 cm" in a.message, a.message


async def test_fast_rise_raises_rate_of_rise_alert(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    rising, steady = f"AWLR-UP-{uid}", f"AWLR-FLAT-{uid}"
    await register(pool, "flood_gauge", [rising, steady])
    config = AlertConfig(rise_cm_per_h=100, rise_window_min=60, evaluate_every_s=3600)
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        await publish(
            settings,
            "flood_gauge",
            rising,
            [{"ts": ago(30 - 5 * i), "water_level": 100 + 15 * i} for i in range(6)],
        )
        await publish(
            settings,
            "flood_gauge",
            steady,
            [{"ts": ago(30 - 5 * i), "water_level": 100 + i} for i in range(6)],
        )
        found = await eventually(
            lambda: list_alerts(pool, rule="flood_rise", device_id=rising), lambda a: len(a) == 1
        )
        await ops.idle()
    assert found[0].priority == "medium"
    assert 150 <= found[0].details["rate"] <= 190
    assert await list_alerts(pool, rule="flood_rise", device_id=steady) == []
