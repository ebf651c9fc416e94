"""The pure simulation: device models, the engine's delivery, scenarios. No broker needed."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from core.kinds import KindRegistry
from core.wire import DecodeLimits, decode_telemetry
from simulators import engine, world
from simulators.fleet import FleetSpec, SimDevice, build_sim_fleet, fleet_csv
from simulators.geography import RIVER_BY_NAME
from simulators.models.flood import alert_level
from simulators.models.network import NetworkNodeModel
from simulators.models.streetlight import StreetlightModel
from simulators.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from simulators.solar import WIB, sun_times
from simulators.timeline import live_window

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _scenario_plan(
    kinds: KindRegistry, name: str, seed: int = 1, *, background: bool = True
) -> tuple[Scenario, list[SimDevice], world.Conditions, list[engine.Emission]]:
    sc = load_scenario(name, list(kinds))
    fleet = build_sim_fleet(kinds, FleetSpec(sc.counts, sc.districts, sc.rivers), seed)
    start, end = live_window(NOW, sc.duration, 10_000, sc.start_local)
    cond = sc.conditions(fleet, start)
    if background:
        cond = world.merge(cond, world.background(fleet, start, end, seed))
    return sc, fleet, cond, list(engine.plan(fleet, kinds, cond, start, end, seed))


def _local(t: object) -> datetime:
    assert isinstance(t, datetime)
    return t.astimezone(WIB)


def test_sun_times_match_the_regencys_year() -> None:
    rises, sets = [], []
    for n in range(0, 365, 5):
        rise, set_ = sun_times(date(2026, 1, 1) + timedelta(days=n), -3.664, 103.80)
        rises.append(rise.astimezone(WIB).time())
        sets.append(set_.astimezone(WIB).time())
    assert time(5, 38) <= min(rises)
    assert max(rises) <= time(6, 16)
    assert time(17, 53) <= min(sets)
    assert max(sets) <= time(18, 29)


def _light_day(kinds: KindRegistry, **quirks: object) -> list[dict[str, object]]:
    fleet = build_sim_fleet(kinds, FleetSpec({"streetlight": 1}, ("Muara Enim",)), 7)
    model = StreetlightModel(fleet[0], 7, **quirks)  # type: ignore[arg-type]
    start = datetime(2026, 11, 27, 0, 0, tzinfo=WIB)
    t, end, out = model.first_due(start), start + timedelta(days=1), []
    cond = world.Conditions()
    while t < end:
        items, t = model.step(t, cond)
        out += items
    return out


def test_streetlight_follows_sunset_sunrise_and_dims_at_night(kinds: KindRegistry) -> None:
    day = _light_day(kinds)
    on = [_local(r["ts"]) for r in day if r["power_state"] != "off"]
    switch_on = min(t for t in on if t.hour >= 12)
    switch_off = max(t for t in on if t.hour < 12)
    assert time(17, 50) <= switch_on.time() <= time(18, 40)
    assert time(5, 30) <= switch_off.time() <= time(6, 20)
    for r in day:
        hm = _local(r["ts"]).time()
        if r["power_state"] != "off" and (hm >= time(22) or hm < time(4, 30)):
            assert r["dim_pct"] == 70
            assert r["power_state"] == "low"
        if time(8) <= hm <= time(16):
            assert r["power_state"] == "off"
            assert r["active_power"] == 0
    # Lit: every 15 min at most; dark by day: hourly at most.
    gaps = [
        (_local(b["ts"]) - _local(a["ts"]), a["power_state"]) for a, b in itertools.pairwise(day)
    ]
    assert all(g <= timedelta(minutes=15) for g, s in gaps if s != "off")
    assert all(g <= timedelta(hours=1) for g, _ in gaps)


def test_streetlight_energy_is_the_integral_of_its_power(kinds: KindRegistry) -> None:
    day = _light_day(kinds)
    for a, b in itertools.pairwise(day):
        hours = (_local(b["ts"]) - _local(a["ts"])).total_seconds() / 3600
        expected = float(a["active_power"]) * hours / 1000  # type: ignore[arg-type]
        assert float(b["energy"]) - float(a["energy"]) == pytest.approx(expected, abs=2e-4)  # type: ignore[arg-type]
    lit = [r for r in day if r["power_state"] == "on"]
    assert lit
    assert all(80 <= float(r["active_power"]) <= 100 for r in lit)


def test_failed_lamp_draws_nothing_at_night_and_day_burner_burns_by_day(
    kinds: KindRegistry,
) -> None:
    fail_at = datetime(2026, 11, 27, 20, 0, tzinfo=WIB)
    failed = [r for r in _light_day(kinds, fail_at=fail_at) if _local(r["ts"]) >= fail_at]
    night = [r for r in failed if _local(r["ts"]).hour >= 20 or _local(r["ts"]).hour < 5]
    assert night
    assert all(r["lamp_failure"] and float(r["active_power"]) < 1 for r in night)
    burner = _light_day(kinds, day_burner=True)
    noon = [r for r in burner if 10 <= _local(r["ts"]).hour < 15]
    assert noon
    assert all(r["day_burner"] and float(r["active_power"]) > 50 for r in noon)


def test_grid_outage_darkens_its_district_at_once_and_spares_the_rest(
    kinds: KindRegistry,
) -> None:
    _, fleet, cond, plan = _scenario_plan(kinds, "grid-outage")
    out = cond.grid[0]
    assert _local(out.window.start).hour >= 18 or _local(out.window.start).hour < 6
    hit = {d.id for d in fleet if d.kind == "streetlight" and d.row.district == out.district}
    spared = {d.id for d in fleet if d.kind == "streetlight"} - hit
    assert hit
    assert spared
    during = defaultdict(list)
    for e in plan:
        for item in e.items:
            ts = item["ts"]
            assert isinstance(ts, datetime)
            if out.window.covers(ts) and e.device.kind == "streetlight":
                during[e.device.id].append(item)
    for dev in hit:  # one last gasp each, all at the same instant, then silence
        assert [i["ts"] for i in during[dev]] == [out.window.start]
        assert during[dev][0]["voltage"] == 0
        assert during[dev][0]["power_state"] == "off"
    for dev in spared:
        assert len(during[dev]) >= 8
        assert all(i["power_state"] != "off" for i in during[dev])
    node = next(d for d in fleet if d.kind == "network_node" and d.row.district == out.district)
    on_battery = [
        i["power_source"]
        for e in plan
        if e.device.id == node.id
        for i in e.items
        if out.window.covers(i["ts"])  # type: ignore[arg-type]
    ]
    assert on_battery
    assert set(on_battery) == {"battery"}


def test_flood_crosses_each_threshold_upstream_first_and_reports_faster(
    kinds: KindRegistry,
) -> None:
    _, fleet, cond, plan = _scenario_plan(kinds, "flood-enim")
    rain = next(r for r in cond.rain if r.mm_per_hour == 45)
    assert "rain on the Enim (45 mm/h)" in cond.phase(rain.start + timedelta(hours=1))
    assert "flood wave moving down the Enim" in cond.phase(rain.start + timedelta(hours=5))
    gauges = [d for d in fleet if d.kind == "flood_gauge"]
    assert [g.station for g in gauges] == list(RIVER_BY_NAME["Enim"].stations)
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for e in plan:
        for item in e.items:
            ts, level = item["ts"], item["water_level"]
            assert isinstance(ts, datetime)
            assert isinstance(level, float)
            series[e.device.id].append((ts, level))
    for level_name in ("WASPADA", "SIAGA", "AWAS"):
        firsts = []
        for g in gauges:
            assert g.station is not None
            firsts.append(
                _first_sustained(
                    series[g.id], lambda v, st=g.station: alert_level(st, v), level_name
                )
            )
        assert firsts == sorted(firsts), (level_name, firsts)
    # Reporting tightens with the level: 5 min when normal, 1 min at SIAGA and above.
    g = gauges[0]
    assert g.station is not None
    gaps = Counter()
    for (a, la), (b, _) in zip(series[g.id], series[g.id][1:], strict=False):
        gaps[(alert_level(g.station, la) in ("SIAGA", "AWAS"), (b - a).total_seconds())] += 1
    assert gaps[(False, 300.0)] > 20
    assert gaps[(True, 60.0)] > 20


def _first_sustained(series, level_of, name: str) -> datetime:  # type: ignore[no-untyped-def]
    order = ["NORMAL", "WASPADA", "SIAGA", "AWAS"]
    for k in range(len(series) - 2):
        if all(order.index(level_of(v)) >= order.index(name) for _, v in series[k : k + 3]):
            return series[k][0]  # type: ignore[no-any-return]
    raise AssertionError(f"never reached {name}")


def test_gauge_housekeeping_every_quarter_hour_and_glitches_happen(kinds: KindRegistry) -> None:
    fleet = build_sim_fleet(kinds, FleetSpec({"flood_gauge": 2}, rivers=("Rambang",)), 3)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    plan = list(engine.plan(fleet, kinds, world.Conditions(), start, start + timedelta(days=6), 3))
    items = [i for e in plan for i in e.items]
    hk = [i for i in items if "battery_v" in i]
    assert all(_local(i["ts"]).minute % 15 == 0 for i in hk[1:])
    assert len(hk) > len(items) / 4
    first = fleet[0].id
    levels = [float(i["water_level"]) for e in plan if e.device.id == first for i in e.items]  # type: ignore[arg-type]
    jumps = sum(1 for a, b in itertools.pairwise(levels) if abs(b - a) > 100)
    repeats = sum(1 for a, b in itertools.pairwise(levels) if a == b)
    assert jumps >= 2  # spikes go up and come back
    assert repeats >= 3  # stuck spells
    volts = [float(i["battery_v"]) for i in hk]  # type: ignore[arg-type]
    assert max(volts) - min(volts) > 0.8  # solar charge cycle


def test_network_node_follows_the_village_day(kinds: KindRegistry) -> None:
    fleet = build_sim_fleet(kinds, FleetSpec({"network_node": 1}), 2)
    model = NetworkNodeModel(fleet[0], 2)
    start = datetime(2026, 11, 27, 0, 0, tzinfo=WIB)
    t = model.first_due(start)
    by_hour: dict[int, list[dict[str, object]]] = defaultdict(list)
    while t < start + timedelta(days=1):
        items, t = model.step(t, world.Conditions())
        for i in items:
            by_hour[_local(i["ts"]).hour].append(i)

    def mean(hour: int, key: str) -> float:
        return sum(float(i[key]) for i in by_hour[hour]) / len(by_hour[hour])  # type: ignore[arg-type]

    assert mean(20, "clients") > 3 * mean(3, "clients")
    assert mean(20, "rx_bps") > 3 * mean(3, "rx_bps")
    assert mean(20, "latency") > mean(3, "latency")
    assert all(len(v) == 60 for v in by_hour.values())


def test_node_power_cut_is_a_gap_and_lights_behind_resend_a_complete_backlog(
    kinds: KindRegistry,
) -> None:
    sc, fleet, cond, plan = _scenario_plan(kinds, "node-down", background=False)
    cut = cond.nodes[0]
    assert cut.window.end - cut.window.start == timedelta(hours=6)
    behind = {d.id for d in fleet if d.uplink == cut.node_id}
    assert behind
    node_ts = [i["ts"] for e in plan if e.device.id == cut.node_id for i in e.items]
    assert not [t for t in node_ts if cut.window.covers(t)]  # type: ignore[arg-type]
    backlogs = [e for e in plan if e.backlog]
    assert {e.device.id for e in backlogs} == behind
    assert all(e.at >= cut.window.end for e in backlogs)
    assert not [e for e in plan if e.device.id in behind and cut.window.covers(e.at)]
    for e in backlogs:
        assert json.loads(e.payload())
        assert isinstance(json.loads(e.payload()), list)
    stamps = [i["ts"] for e in backlogs for i in e.items]
    assert stamps != sorted(stamps)  # type: ignore[type-var]
    # Complete: the same readings as without the outage, only delivered later.
    start, end = live_window(NOW, sc.duration, 10_000, sc.start_local)
    calm = list(engine.plan(fleet, kinds, world.Conditions(), start, end, 1))

    def readings(p: list[engine.Emission]) -> set[tuple[str, object]]:
        return {(e.device.id, i["ts"]) for e in p if e.device.id in behind for i in e.items}

    assert readings(plan) == readings(calm)


def test_backhaul_outage_backlogs_the_nodes_own_readings(kinds: KindRegistry) -> None:
    fleet = build_sim_fleet(kinds, FleetSpec({"network_node": 1}), 1)
    start = datetime(2026, 11, 27, tzinfo=UTC)
    w = world.Window(start + timedelta(hours=1), start + timedelta(hours=2))
    cond = world.Conditions(nodes=[world.NodeOutage(fleet[0].id, w, "backhaul")])
    plan = list(engine.plan(fleet, kinds, cond, start, start + timedelta(hours=3), 1))
    backlog = [i for e in plan if e.backlog for i in e.items]
    assert len(backlog) == 60
    assert all(w.covers(i["ts"]) for i in backlog)
    assert len([e for e in plan if not e.backlog]) == 120


def test_bad_firmware_breaks_every_third_message_in_every_way(kinds: KindRegistry) -> None:
    _, _fleet, cond, plan = _scenario_plan(kinds, "bad-firmware")
    sick = cond.firmware[0].device_id
    mine = [e for e in plan if e.device.id == sick]
    bad = [e for e in mine if e.raw is not None]
    assert len(bad) == (len(mine) + 2) // 3
    limits = DecodeLimits(max_age=timedelta(days=3650))
    codes = Counter()
    for e in mine:
        readings, rejections = decode_telemetry(
            kinds["flood_gauge"], sick, e.payload(), NOW + timedelta(days=1), limits
        )
        if e.raw is None:
            assert readings
            assert not rejections
        else:
            assert not readings
            assert len(rejections) == 1
            codes[rejections[0].reason.split(" ")[0]] += 1
    assert len(codes) >= 5  # several distinct defects, not one repeated


def test_same_seed_same_messages_other_seed_other_values(kinds: KindRegistry) -> None:
    a = [e.payload() for e in _scenario_plan(kinds, "grid-outage", seed=5)[3]]
    b = [e.payload() for e in _scenario_plan(kinds, "grid-outage", seed=5)[3]]
    c = [e.payload() for e in _scenario_plan(kinds, "grid-outage", seed=6)[3]]
    assert a == b
    assert a != c


def test_fleet_places_devices_and_exports_csv(kinds: KindRegistry) -> None:
    fleet = build_sim_fleet(
        kinds, FleetSpec({"streetlight": 30, "flood_gauge": 9, "network_node": 4}), 1
    )
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(fleet_csv(fleet))))
    assert len(rows) == 43
    gauges = [r for r in rows if r["kind"] == "flood_gauge"]
    assert [r["river"] for r in gauges] == ["Enim"] * 4 + ["Lematang"] * 3 + ["Rambang"] * 2
    assert all(float(r["waspada_cm"]) < float(r["siaga_cm"]) < float(r["awas_cm"]) for r in gauges)
    assert all(r["station"] and float(r["gauge_zero_m"]) > 0 for r in gauges)
    lights = [r for r in rows if r["kind"] == "streetlight"]
    assert all(r["feeder"].startswith("SIM-FDR-") and r["pole_number"] for r in lights)
    assert any(r["uplink_id"] for r in lights)  # lights in a district with a node use it
    assert all(r["uplink"] for r in rows if r["kind"] == "network_node")
    for d in fleet:  # inside the regency
        assert d.row.latitude is not None
        assert d.row.longitude is not None
        assert -4.377 <= d.row.latitude <= -3.018
        assert 103.316 <= d.row.longitude <= 104.675


def test_live_window_never_runs_ahead_of_the_clock_and_ends_now() -> None:
    start, end = live_window(NOW, timedelta(hours=12), 60, time(20, 0))
    assert start.astimezone(WIB).time() == time(20, 0)
    assert end - start >= timedelta(hours=12)  # the whole scenario, then on to the present
    wall_at_end = NOW + (end - start) / 60
    assert abs((end - wall_at_end).total_seconds()) < 1  # the last reading is current
    s0, e0 = live_window(NOW, timedelta(hours=12), 60)
    assert abs((e0 - (NOW + (e0 - s0) / 60)).total_seconds()) < 60
    s1, e1 = live_window(NOW, timedelta(hours=2), 1)
    assert s1 == NOW
    assert e1 == NOW + timedelta(hours=2)


def test_cabinet_outage_darkens_only_the_lights_on_that_feeder(kinds: KindRegistry) -> None:
    sc = parse_scenario(
        {
            "duration": "4h",
            "start_local": "19:00",
            "fleet": {"streetlight": 26, "districts": ["Gelumbang"]},
            "grid_outage": [{"district": "Gelumbang", "feeder": 2, "at": "1h", "hours": 1}],
        },
        "cabinet",
        list(kinds),
    )
    fleet = build_sim_fleet(kinds, FleetSpec(sc.counts, sc.districts), 1)
    start, end = live_window(NOW, sc.duration, 10_000, sc.start_local)
    cond = sc.conditions(fleet, start)
    out = cond.grid[0]
    assert out.feeder is not None
    assert out.feeder.endswith("-02")
    on_feeder = {d.id for d in fleet if d.feeder == out.feeder}
    assert len(on_feeder) == 12
    gasps = {
        e.device.id
        for e in engine.plan(fleet, kinds, cond, start, end, 1)
        for i in e.items
        if i["voltage"] == 0
    }
    assert gasps == on_feeder
    with pytest.raises(ScenarioError, match=r"grid_outage\[0\]\.feeder: Gelumbang has 3 feeder"):
        replace(sc, grid=(replace(sc.grid[0], feeder=4),)).conditions(fleet, start)


def test_every_well_formed_message_of_a_default_fleet_passes_ingest_validation(
    kinds: KindRegistry,
) -> None:
    from citysense.commands.simulate import DEFAULT_COUNTS

    fleet = build_sim_fleet(kinds, FleetSpec(DEFAULT_COUNTS), 11)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    end = start + timedelta(days=2)
    cond = world.background(fleet, start, end, 11)
    assert cond.rain
    assert cond.nodes  # everyday incidents happen
    limits = DecodeLimits()
    per_kind: Counter[str] = Counter()
    for e in engine.plan(fleet, kinds, cond, start, end, 11):
        readings, rejections = decode_telemetry(
            kinds[e.device.kind], e.device.id, e.payload(), end, limits
        )
        assert not rejections, (e.device.id, rejections, e.payload()[:300])
        per_kind[e.device.kind] += len(readings)
    assert per_kind["network_node"] > 4 * 2 * 1300
    assert per_kind["flood_gauge"] >= 4 * 2 * 288 * 0.95
    assert per_kind["streetlight"] >= 12 * 2 * 40
