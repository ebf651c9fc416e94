"""Simulated devices are real devices: registered with what alerts read, owned, retired.

``citysense simulate`` registers each device through the registry with its station,
thresholds, gauge zero, feeder and uplink (the same details the fleet CSV carries); it
never overwrites a device it did not create; ``--cleanup PREFIX`` decommissions what a
run made. The alert evaluator judges simulated devices by their run's clock.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts import simclock
from citysense.cli import main
from citysense.commands import simulate
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alert_inputs import Liveness
from core.storage.registry import DeviceFilter, list_devices
from simulators.fleet import FleetSpec, build_sim_fleet, fleet_csv
from simulators.scenario import load_scenario


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith("CITYSENSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CITYSENSE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CITYSENSE_MQTT_PORT", str(settings.mqtt_port))
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(simulate, "REGISTRY_SETTLE_S", 0.0)  # no evaluator in this test


def _records(database_url: str, prefix: str) -> dict[str, object]:
    async def go() -> dict[str, object]:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        try:
            _, rows = await list_devices(
                pool, DeviceFilter(batch=f"simulate:{prefix}"), limit=1000, offset=0
            )
            return {r.id: r for r in rows}
        finally:
            await pool.close()

    return asyncio.run(go())


def test_each_scenario_has_its_own_prefix_and_the_demo_another() -> None:
    names = ["node-down", "flood-enim", "grid-outage", "bad-firmware"]
    kinds = ["streetlight", "flood_gauge", "network_node"]
    prefixes = {simulate.default_prefix(load_scenario(n, kinds)) for n in names}
    assert prefixes == {"NODEDOWN", "FLOODENIM", "GRIDOUTAGE", "BADFIRMWARE"}
    assert simulate.default_prefix(None) == "SIM"


def test_simulate_registers_every_detail_alerts_read_as_the_csv_has_them(
    cli_env: None,
    settings: Settings,
    kinds: KindRegistry,
    uid: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"R{uid}"
    argv = ["--per-kind", "3", "--count", "flood_gauge=2", "--id-prefix", prefix]
    assert main(["simulate", *argv, "--rounds", "1", "--interval", "0"]) == 0, (
        capsys.readouterr().err
    )
    out = capsys.readouterr().out
    assert f"ids {prefix}-*" in out
    assert f"citysense simulate --cleanup {prefix}" in out
    records = _records(settings.database_url, prefix)
    fleet = build_sim_fleet(
        kinds,
        FleetSpec({"streetlight": 3, "flood_gauge": 2, "network_node": 3}, id_prefix=prefix),
        1,
    )
    expected = {r["id"]: r for r in csv.DictReader(io.StringIO(fleet_csv(fleet)))}
    assert set(records) == set(expected)
    for device_id, want in expected.items():
        got = records[device_id]
        mounting = got.mounting  # type: ignore[attr-defined]
        if want["kind"] == "flood_gauge":
            assert mounting["station"] == want["station"]
            assert mounting["river"] == want["river"]
            assert float(mounting["gauge_zero_m"]) == float(want["gauge_zero_m"])
            bands = (got.waspada_cm, got.siaga_cm, got.awas_cm)  # type: ignore[attr-defined]
            assert bands == tuple(float(want[k]) for k in ("waspada_cm", "siaga_cm", "awas_cm"))
            assert bands != (300, 400, 500)  # the station's, not the defaults
        if want["kind"] == "streetlight":
            assert mounting["feeder"] == want["feeder"]
            assert mounting["pole_number"] == want["pole_number"]
            assert (got.uplink_id or "") == want["uplink_id"]  # type: ignore[attr-defined]
        if want["kind"] == "network_node":
            assert mounting["uplink"] == want["uplink"]

    # A second run with the same prefix brings its own devices up to date.
    assert main(["simulate", *argv, "--rounds", "1", "--interval", "0"]) == 0
    assert "0 new" in capsys.readouterr().out

    # --cleanup retires exactly that run's devices; their ids are not reused.
    assert main(["simulate", "--cleanup", prefix]) == 0
    assert f"decommissioned {len(expected)} simulated devices" in capsys.readouterr().out
    statuses = {r.status for r in _records(settings.database_url, prefix).values()}  # type: ignore[attr-defined]
    assert statuses == {"decommissioned"}
    assert main(["simulate", *argv, "--rounds", "1"]) == 2
    assert "retired by --cleanup" in capsys.readouterr().err


def test_simulate_refuses_to_overwrite_a_device_it_did_not_create(
    cli_env: None, settings: Settings, uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"O{uid}"
    theirs = f"{prefix}-NODE-0001"
    assert (
        main(
            ["devices", "register", theirs, "--kind", "network_node", "--district", "Lawang Kidul"]
        )
        == 0
    )
    capsys.readouterr()
    code = main(["simulate", "--per-kind", "1", "--id-prefix", prefix, "--rounds", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert f"e.g. {theirs}" in err
    assert "never overwrites devices it did not create" in err
    assert _records(settings.database_url, prefix) == {}


def _seen(device_id: str, batch: str | None, time: datetime, received: datetime) -> Liveness:
    return Liveness(device_id, "network_node", device_id, received, time, {}, batch)


def test_simulated_devices_are_judged_by_their_runs_clock_and_real_ones_by_the_wall() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    sim_now = now - timedelta(hours=20)  # a run at --speed 3600, placed in the past
    rows = [
        # Arrived a moment ago, stamped by the simulation: one current, one 2 h behind.
        _seen("S-1", "simulate:S", sim_now, now),
        _seen("S-2", "simulate:S", sim_now - timedelta(hours=2), now),
        # A real device that arrived 10 minutes ago, stamped correctly.
        _seen("R-1", "demo", now - timedelta(minutes=10), now - timedelta(minutes=10)),
        _seen("R-2", None, now - timedelta(hours=5), now - timedelta(seconds=5)),
    ]
    quiet = simclock.quiet_for(rows, now)
    assert quiet["S-1"] == 0
    assert quiet["S-2"] == 7200  # silent for 2 simulated hours, though it arrived just now
    assert quiet["R-1"] == 600
    assert quiet["R-2"] == 5  # a real backlog: judged by arrival, as before
