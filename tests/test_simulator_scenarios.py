"""Each bundled scenario, run by `citysense simulate` against the real broker and ingest,
leaves its signature in the database. Simulated time is compressed (20000x)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from core.kinds import KindRegistry
from core.settings import Settings
from simulators import engine
from simulators.fleet import FleetSpec, SimDevice, build_sim_fleet
from simulators.models.flood import alert_level
from simulators.scenario import conditions_for, load_scenario
from simulators.solar import WIB
from simulators.world import Conditions
from tests.support.ingest import running_ingest
from tests.support.procs import Proc, settings_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.anyio

SPEED = "20000"


class Run:
    def __init__(self, output: str, prefix: str, kinds: KindRegistry, name: str | None) -> None:
        m = re.search(r"simulated (\S+) \.\. (\S+)", output)
        assert m, output
        self.start = datetime.fromisoformat(m.group(1))
        self.end = datetime.fromisoformat(m.group(2))
        sent = re.search(r"published (\d+) messages", output)
        assert sent, output
        self.messages = int(sent.group(1))
        self.prefix = prefix
        if name is not None:
            sc = load_scenario(name, list(kinds))
            spec = FleetSpec(sc.counts, sc.districts, sc.rivers, id_prefix=prefix)
            self.fleet: list[SimDevice] = build_sim_fleet(kinds, spec, 1)
            self.world: Conditions = conditions_for(sc, self.fleet, self.start, self.end, 1)
            self.plan = list(engine.plan(self.fleet, kinds, self.world, self.start, self.end, 1))


async def simulate(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    tmp_path: Path,
    uid: str,
    *args: str,
    scenario: str | None = None,
) -> Run:
    """Run `citysense simulate` with ingest running; return once ingest has everything."""
    prefix = f"T{uid}"
    argv = ["simulate", "--id-prefix", prefix, "--seed", "1", *args]
    if scenario:
        argv += ["--scenario", scenario]
    env = settings_env(settings.database_url, settings.mqtt_port)
    async with running_ingest(settings, pool, kinds) as service:
        proc = Proc(argv, env, tmp_path / "simulate.log")
        code = await asyncio.to_thread(proc.wait, 90)
        assert code == 0, proc.output()
        run = Run(proc.output(), prefix, kinds, scenario)
        await eventually(
            lambda: asyncio.sleep(0, service.stats.received), lambda n: n >= run.messages, 30
        )
    return run


async def test_flood_on_the_enim_crosses_each_threshold_upstream_first(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    run = await simulate(
        settings, pool, kinds, tmp_path, uid, "--speed", SPEED, scenario="flood-enim"
    )
    gauges = [d for d in run.fleet if d.kind == "flood_gauge"]
    assert [g.station.name for g in gauges if g.station] == [
        "Pulau Panggung",
        "Sukaraja",
        "Lawang Kidul",
        "Muara Enim",
    ]
    order = ["NORMAL", "WASPADA", "SIAGA", "AWAS"]
    crossings: dict[str, list[datetime]] = defaultdict(list)
    for g in gauges:
        st = g.station
        assert st is not None
        rows = await pool.fetch(
            "SELECT time, water_level FROM readings_flood_gauge WHERE device_id = $1 ORDER BY time",
            g.id,
        )
        assert len(rows) == sum(len(e.items) for e in run.plan if e.device.id == g.id)
        for level in order[1:]:
            # Sustained for three readings, so a lone glitch spike does not count.
            first = next(
                rows[k]["time"]
                for k in range(len(rows) - 2)
                if all(
                    order.index(alert_level(st, r["water_level"])) >= order.index(level)
                    for r in rows[k : k + 3]
                )
            )
            crossings[level].append(first)
    for level in order[1:]:
        times = crossings[level]
        assert times == sorted(times), (level, times)
        assert len(set(times)) == len(times), (level, times)
    # The wave travels for hours between the first and last gauge.
    assert crossings["AWAS"][-1] - crossings["AWAS"][0] >= timedelta(hours=3)


async def test_grid_outage_darkens_every_light_of_the_district_in_the_same_minute(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    run = await simulate(
        settings, pool, kinds, tmp_path, uid, "--speed", SPEED, scenario="grid-outage"
    )
    outage = run.world.grid[0]
    hit = sorted(
        d.id for d in run.fleet if d.kind == "streetlight" and d.row.district == outage.district
    )
    spared = sorted(
        d.id for d in run.fleet if d.kind == "streetlight" and d.row.district != outage.district
    )
    assert len(hit) == 12
    assert len(spared) == 12
    dark = await pool.fetch(
        "SELECT device_id, date_trunc('minute', time) AS minute FROM readings_streetlight"
        " WHERE device_id = ANY($1::text[]) AND voltage = 0 AND power_state = 'off'",
        hit + spared,
    )
    assert sorted(r["device_id"] for r in dark) == hit  # each light of the district, once
    minutes = {r["minute"] for r in dark}
    assert len(minutes) == 1
    local = minutes.pop().astimezone(WIB)
    assert local.hour >= 18 or local.hour < 6  # at night
    silent = await pool.fetchval(
        "SELECT count(*) FROM readings_streetlight WHERE device_id = ANY($1::text[])"
        " AND time > $2 AND time < $3",
        hit,
        outage.window.start,
        outage.window.end,
    )
    assert silent == 0
    lit = await pool.fetch(
        "SELECT DISTINCT device_id FROM readings_streetlight WHERE device_id = ANY($1::text[])"
        " AND time > $2 AND time < $3 AND active_power > 20",
        spared,
        outage.window.start,
        outage.window.end,
    )
    assert sorted(r["device_id"] for r in lit) == spared


async def test_node_down_six_hours_backlog_arrives_complete_after_it_returns(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    run = await simulate(
        settings, pool, kinds, tmp_path, uid, "--speed", SPEED, scenario="node-down"
    )
    cut = next(n for n in run.world.nodes if n.window.end - n.window.start == timedelta(hours=6))
    behind = sorted(d.id for d in run.fleet if d.uplink == cut.node_id)
    others = sorted(d.id for d in run.fleet if d.kind == "streetlight" and d.id not in behind)
    assert behind
    assert others
    expected = {
        (e.device.id, i["ts"])
        for e in run.plan
        if e.backlog and e.device.id in behind
        for i in e.items
        if cut.window.covers(i["ts"])  # type: ignore[arg-type]
    }
    assert len(expected) >= len(behind) * 4 * 4  # lit from dusk: 15-min readings, 4 h+
    stored = await pool.fetch(
        "SELECT device_id, time, received_at FROM readings_streetlight"
        " WHERE device_id = ANY($1::text[]) AND time >= $2 AND time < $3",
        behind,
        cut.window.start,
        cut.window.end,
    )
    assert {(r["device_id"], r["time"]) for r in stored} == expected
    # Nothing of the backlog was stored before the simulated moment the node came back:
    # lights elsewhere kept reporting live until then, and those arrived first.
    live_before_return = await pool.fetchval(
        "SELECT max(received_at) FROM readings_streetlight"
        " WHERE device_id = ANY($1::text[]) AND time < $2",
        others,
        cut.window.end,
    )
    assert min(r["received_at"] for r in stored) >= live_before_return
    node_gap = await pool.fetchval(
        "SELECT count(*) FROM readings_network_node WHERE device_id = $1 AND time >= $2"
        " AND time < $3",
        cut.node_id,
        cut.window.start,
        cut.window.end,
    )
    assert node_gap == 0
    uptime_after = await pool.fetchval(
        "SELECT uptime FROM readings_network_node WHERE device_id = $1 AND time >= $2"
        " ORDER BY time LIMIT 1",
        cut.node_id,
        cut.window.end,
    )
    assert uptime_after < 600  # it rebooted


async def test_broken_firmware_lands_in_dead_letters_and_good_messages_are_stored(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    run = await simulate(
        settings, pool, kinds, tmp_path, uid, "--speed", SPEED, scenario="bad-firmware"
    )
    sick = run.world.firmware[0].device_id
    mine = [e for e in run.plan if e.device.id == sick]
    bad = [e for e in mine if e.raw is not None]
    assert bad
    assert len(bad) < len(mine)
    letters = await pool.fetch(
        "SELECT code, reason, payload FROM dead_letters WHERE device_id = $1", sick
    )
    assert sorted(bytes(r["payload"]) for r in letters) == sorted(e.payload() for e in bad)
    assert all(r["reason"] for r in letters)
    assert {r["code"] for r in letters} == {"invalid", "not_json"}
    good = await pool.fetchval(
        "SELECT count(*) FROM readings_flood_gauge WHERE device_id = $1", sick
    )
    assert good == len(mine) - len(bad)
    healthy = [d.id for d in run.fleet if d.id != sick]
    stored = await pool.fetchval(
        "SELECT (SELECT count(*) FROM readings_flood_gauge WHERE device_id = ANY($1::text[]))"
        " + (SELECT count(*) FROM readings_network_node WHERE device_id = ANY($1::text[]))",
        healthy,
    )
    assert stored == sum(len(e.items) for e in run.plan if e.device.id in healthy)


async def test_speed_paces_publishing_against_the_wall_clock(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    began = time.monotonic()
    run = await simulate(
        settings,
        pool,
        kinds,
        tmp_path,
        uid,
        "--count",
        "network_node=1",
        "--districts",
        "Lubai",
        "--duration",
        "1h",
        "--speed",
        "1800",
    )
    assert time.monotonic() - began >= 2.0  # one simulated hour at 1800x takes 2 s
    rows = await pool.fetch(
        "SELECT time, received_at FROM readings_network_node WHERE device_id = $1 ORDER BY time",
        f"{run.prefix}-NODE-0001",
    )
    assert len(rows) >= 55
    spread = (rows[-1]["received_at"] - rows[0]["received_at"]).total_seconds()
    assert spread >= 1.5


async def test_backfill_replays_a_past_period_as_backlog_arrays(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    run = await simulate(
        settings,
        pool,
        kinds,
        tmp_path,
        uid,
        "--count",
        "network_node=1",
        "--count",
        "streetlight=0",
        "--count",
        "flood_gauge=0",
        "--districts",
        "Lubai",
        "--from",
        "2026-10-01T00:00+07:00",
        "--to",
        "2026-10-01T05:00+07:00",
    )
    assert run.messages <= 4  # 300 readings in arrays of 100 (plus one for any backlog)
    n = await pool.fetchval(
        "SELECT count(*) FROM readings_network_node WHERE device_id = $1",
        f"{run.prefix}-NODE-0001",
    )
    assert n == 300


async def test_each_device_publishes_with_its_own_login(
    database_url: str, pool: asyncpg.Pool, kinds: KindRegistry, tmp_path: Path, uid: str
) -> None:
    import json
    import shutil
    import subprocess

    from citysense.local.mosquitto import LocalMosquitto
    from citysense.local.ports import free_port
    from citysense.local.postgres import scratch_dir
    from core.settings import load_settings

    prefix = f"T{uid}"
    devices = [f"{prefix}-NODE-0001", f"{prefix}-AWLR-0001"]
    logins = {d: {"username": d, "password": f"pw-{i}-{uid}"} for i, d in enumerate(devices)}
    workdir = scratch_dir("citysense-mqtt-")  # reachable by the broker's own user
    pwfile, aclfile = workdir / "passwd", workdir / "acl"
    pwfile.touch()
    for login in [*logins.values(), {"username": "ingest", "password": "ingest-pw"}]:
        await asyncio.to_thread(
            subprocess.run,
            ["mosquitto_passwd", "-b", str(pwfile), login["username"], login["password"]],
            check=True,
        )
    # Each login may write only its own device's topics: a shared login would be refused.
    aclfile.write_text(
        "user ingest\ntopic read citysense/v1/#\n\npattern write citysense/v1/+/%u/#\n"
    )
    for f in (pwfile, aclfile):
        f.chmod(0o644)
    broker = LocalMosquitto(
        workdir,
        free_port(),
        extra=f"password_file {pwfile}\nacl_file {aclfile}\nallow_anonymous false\n",
    )
    broker.start()
    try:
        settings = load_settings(
            database_url=database_url,
            mqtt_port=broker.port,
            mqtt_username="ingest",
            mqtt_password="ingest-pw",
            ingest_client_id=f"ingest-{uid}",
            ingest_batch_max_age_ms=20,
        )
        creds = tmp_path / "credentials.json"
        creds.write_text(json.dumps(logins))
        args = ["--count", "network_node=1", "--count", "flood_gauge=1", "--count"]
        args += ["streetlight=0", "--districts", "Lubai", "--duration", "2h", "--speed", "50000"]
        await simulate(settings, pool, kinds, tmp_path, uid, *args, "--credentials", str(creds))
        for device, table in zip(devices, ("network_node", "flood_gauge"), strict=True):
            n = await pool.fetchval(
                f"SELECT count(*) FROM readings_{table} WHERE device_id = $1", device
            )
            assert n >= 20, device

        logins[devices[1]]["password"] = "wrong"
        creds.write_text(json.dumps(logins))
        env = settings_env(database_url, broker.port)
        proc = Proc(
            [
                "simulate",
                "--id-prefix",
                prefix,
                "--no-register",
                *args,
                "--credentials",
                str(creds),
            ],
            env,
            tmp_path / "refused.log",
        )
        assert await asyncio.to_thread(proc.wait, 60) == 2
        assert f"refused the connection as '{devices[1]}'" in proc.output()
        assert "Traceback" not in proc.output()
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_demo_api_publishes_rounds_for_plain_device_rows(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    """`build_fleet` + `publisher.run` (what `citysense up`'s demo calls) keep working."""
    import threading

    from core.storage.devices import upsert_devices
    from simulators.fleet import build_fleet
    from simulators.publisher import run

    rows = [
        dataclasses.replace(r, id=r.id.replace("SIM-", f"D{uid}-"))
        for r in build_fleet(kinds, 2, 1)
    ]
    assert len(rows) == 6
    await upsert_devices(pool, rows)
    async with running_ingest(settings, pool, kinds) as service:
        sent = await asyncio.to_thread(
            run, settings, kinds, rows, interval_s=0.2, rounds=3, seed=1, stop=threading.Event()
        )
        assert sent == 18
        await eventually(lambda: asyncio.sleep(0, service.stats.inserted), lambda n: n >= 18)
    gauge = next(r for r in rows if r.kind == "flood_gauge")
    levels = await pool.fetch(
        "SELECT water_level FROM readings_flood_gauge WHERE device_id = $1", gauge.id
    )
    # The gauge found its station (Pulau Panggung, base 190 cm): a river level, not noise.
    assert len(levels) == 3
    assert all(150 < r["water_level"] < 250 for r in levels)
