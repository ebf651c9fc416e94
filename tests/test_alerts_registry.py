"""Alerts take per-device facts from the device registry: a gauge's own thresholds (and the
level /state shows), a lamp's feeder, a device's uplink node. Devices are registered the way
technicians do (devices.registry), readings arrive through real ingest, and the alert config
names no device at all."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from alerts.config import AlertConfig, FloodThresholds, thresholds_for
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alert_metadata import AlertMetadata, RegistryBands, load_alert_metadata
from core.storage.alerts import list_alerts
from core.storage.state import StateFilter, state_briefs
from devices.importer import run_import
from devices.region import load_region
from devices.registry import Registry
from simulators.fleet import FleetSpec, build_sim_fleet, fleet_csv
from tests.support.ingest import running_ingest
from tests.support.operations import Clock, ago, publish, running_operations
from tests.support.registry import gauge, streetlight
from tests.support.waiting import eventually
from tests.test_alerts_lights_nodes import last_local

pytestmark = pytest.mark.anyio


def _registry(pool: asyncpg.Pool, settings: Settings, kinds: KindRegistry) -> Registry:
    return Registry(pool, settings, kinds, load_region())


async def _state_level(pool: asyncpg.Pool, device_id: str) -> str | None:
    [brief] = await state_briefs(pool, {}, StateFilter(device_ids=(device_id,)))
    return brief.level


async def test_gauge_level_follows_its_own_registry_thresholds_and_their_edits(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    g = f"AWLR-REG-{uid}"
    reg = _registry(pool, settings, kinds)
    # Far below the defaults (300 / 400 / 500): with the defaults, 150 and 250 are NORMAL.
    await reg.register(gauge(g, waspada_cm=120, siaga_cm=180, awas_cm=240), actor="test")
    config = AlertConfig(rise_cm_per_h=10_000, evaluate_every_s=3600, registry_refresh_s=0.3)
    assert config.flood_default.waspada > 250

    async def alerts() -> list[tuple[str, str, float]]:
        found = await list_alerts(pool, device_id=g, rule="flood_level")
        return [(a.status, a.details["level"], a.details["threshold"]) for a in found]

    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config),
    ):
        await publish(settings, "flood_gauge", g, [{"ts": ago(3), "water_level": 150.0}])
        assert await eventually(alerts, lambda a: a and a[0][1] == "WASPADA") == [
            ("open", "WASPADA", 120.0)
        ]
        await publish(settings, "flood_gauge", g, [{"ts": ago(2), "water_level": 250.0}])
        assert await eventually(alerts, lambda a: a[0][1] == "AWAS") == [("open", "AWAS", 240.0)]
        assert await _state_level(pool, g) == "AWAS"

        # An operator raises the thresholds in the registry; no new reading arrives, yet
        # within seconds the level (and /state) follows: 250 cm is below 300 - hysteresis.
        await reg.update(g, {"waspada_cm": 300, "siaga_cm": 400, "awas_cm": 500}, actor="test")
        assert await eventually(alerts, lambda a: a[0][0] == "resolved", within=10) == [
            ("resolved", "AWAS", 240.0)
        ]
        assert await eventually(lambda: _state_level(pool, g), lambda v: v == "NORMAL")

        # A registration seen while running: a second gauge with its own low thresholds.
        g2 = f"AWLR-NEW-{uid}"
        await reg.register(gauge(g2, waspada_cm=10, siaga_cm=20, awas_cm=30), actor="test")
        await publish(settings, "flood_gauge", g2, [{"ts": ago(1), "water_level": 25.0}])
        await eventually(lambda: _state_level(pool, g2), lambda v: v == "SIAGA", within=10)


def test_config_file_overrides_registry_which_overrides_defaults() -> None:
    meta = AlertMetadata(thresholds={"A": RegistryBands(10, 20, 30), "B": RegistryBands(1, 2, 3)})
    own = FloodThresholds(waspada=100, siaga=200, awas=300)
    config = AlertConfig(flood_stations={"B": own})
    assert thresholds_for(config, meta, "A") == FloodThresholds(
        waspada=10, siaga=20, awas=30, hysteresis_cm=config.flood_default.hysteresis_cm
    )
    assert thresholds_for(config, meta, "B") == own
    assert thresholds_for(config, meta, "C") == config.flood_default


async def test_feeder_outage_uses_the_registry_feeder(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    lamps = [f"PJU-RF{i}-{uid}" for i in range(6)]
    reg = _registry(pool, settings, kinds)
    for i, d in enumerate(lamps):
        mounting = {"pole_number": f"P-{i}", "feeder": f"GARDU-{uid}", "cabinet": "LK-2"}
        await reg.register(streetlight(d, status="active", mounting=mounting), actor="test")
    config = AlertConfig(feeder_min_lamps=5, lamp_settle_s=0.5, evaluate_every_s=3600)
    assert config.feeders == {}
    night = last_local(20)
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config) as ops,
    ):
        for d in lamps:
            await publish(
                settings, "streetlight", d, [{"ts": night, "power_state": "off", "active_power": 0}]
            )
        outage = await eventually(
            lambda: list_alerts(pool, rule="feeder_outage"),
            lambda a: any(
                x.subject == f"feeder:GARDU-{uid}" and len(x.details["lamps"]) == 6 for x in a
            ),
        )
        await ops.idle()
        await ops.evaluator.settle()
    [mine] = [a for a in outage if a.subject == f"feeder:GARDU-{uid}"]
    assert mine.status == "open"
    assert sorted(mine.details["lamps"]) == lamps
    failures = [a for a in await list_alerts(pool, rule="lamp_failure") if uid in a.subject]
    assert failures == [], "lamps on a dark feeder get no alerts of their own"


async def test_uplink_down_uses_the_registry_uplink_and_yields_one_alert(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    node = f"NODE-RU-{uid}"
    behind = [f"AWLR-RB{i}-{uid}" for i in range(3)]
    alone = f"AWLR-RA-{uid}"
    reg = _registry(pool, settings, kinds)
    await reg.register(
        {
            "id": node,
            "kind": "network_node",
            "name": "Village node",
            "district": "Muara Enim",
            "latitude": -3.66,
            "longitude": 103.8,
            "status": "active",
            "mounting": {"uplink": "4G"},
        },
        actor="test",
    )
    for d in behind:
        await reg.register(gauge(d, uplink_id=node), actor="test")
    await reg.register(gauge(alone), actor="test")
    config = AlertConfig(evaluate_every_s=3600)
    assert config.uplinks == {}
    clock = Clock()
    async with (
        running_ingest(settings, pool, kinds),
        running_operations(settings, pool, kinds, config, clock=clock) as ops,
    ):
        await publish(settings, "network_node", node, [{"ts": ago(1), "latency": 30.0}])
        for d in [*behind, alone]:
            await publish(settings, "flood_gauge", d, [{"ts": ago(1), "water_level": 50.0}])
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM latest_state WHERE device_id LIKE $1", f"%{uid}"
            ),
            lambda n: n == 5,
        )
        await ops.idle()
        await ops.evaluator.tick()
        assert [a for a in await list_alerts(pool) if uid in a.subject] == []

        clock.offset = timedelta(hours=2)
        await ops.evaluator.tick()
        mine = [a for a in await list_alerts(pool) if uid in a.subject]
        assert sorted((a.rule, a.subject) for a in mine) == [
            ("device_offline", alone),
            ("node_down", node),
        ]
        [down] = [a for a in mine if a.rule == "node_down"]
        assert sorted(down.details["behind"]) == behind


async def test_simulator_fleet_csv_imports_with_the_details_alerts_read(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    spec = FleetSpec({"streetlight": 4, "flood_gauge": 2, "network_node": 1}, id_prefix=f"S{uid}")
    fleet = build_sim_fleet(kinds, spec, 1)
    data = fleet_csv(fleet).encode()
    result = await run_import(
        _registry(pool, settings, kinds), data, actor="test", import_good=False, batch=uid
    )
    assert result.errors == []
    assert result.imported == len(fleet)
    meta = await load_alert_metadata(pool)
    for dev in fleet:
        if dev.feeder:
            assert meta.feeders[dev.id] == dev.feeder
        if dev.uplink:
            assert meta.uplinks[dev.id] == dev.uplink
        if dev.station:
            assert meta.thresholds[dev.id] == RegistryBands(
                dev.station.waspada_cm, dev.station.siaga_cm, dev.station.awas_cm
            )
    assert any(dev.uplink for dev in fleet)
