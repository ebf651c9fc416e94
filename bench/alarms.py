"""Alarm KPIs (EEMUA 191 / ISA-18.2) of the shipped scenarios plus a quiet day.

Each scenario's simulated messages (simulators.engine.plan: the same stream
``citysense simulate`` publishes) are decoded as ingest decodes them, written with the real
write path into a scratch PostgreSQL database, and judged by the real alert evaluator on a
simulated clock (readings as they arrive, the timer every ``TICK``). An annunciation is a
raise, an escalation or a return from the shelf, at its simulated time.

Per scenario: annunciations per 10 minutes (peak and average), alarm floods (10-min windows
with more than 10), chattering alarms (one alarm raised 3+ times within a minute of simulated
time; escalations do not count), repeating alarms (raised 3+ times within an hour: gauges
report every 5 minutes, so a feed that flip-flops shows here rather than as chattering),
standing alarms at the end, the priority distribution, and the position of the first
AWAS/SIAGA alarm in the operator's list the moment it opens (must be 1).

Baseline in the same run: the same stream judged with no dwell (flood level and fast-rise
clearing) and late data alarmed as soon as 2 devices are late (the nearest this code comes
to the pre-issue-14 rules), reported as ``baseline`` beside each.

Targets: quiet day at most 1 alarm per 10 min (average), no chattering, flood first.
Writes ``bench/results/alarms.json``.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
import platform
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import psycopg

from alerts.config import AlertConfig, FloodThresholds
from alerts.evaluator import AlertEvaluator
from alerts.notify import Dispatcher, Notification
from alerts.sink import AlertSink
from alerts.vocabulary import FloodLevel
from core.kinds import KindRegistry, builtin_kinds
from core.storage.alerts import active_alerts, list_alerts
from core.storage.batches import write_batch
from core.storage.devices import upsert_devices
from core.storage.events import reading_items
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import DecodeLimits, Reading, decode_telemetry
from simulators.engine import plan
from simulators.fleet import FleetSpec, SimDevice, build_sim_fleet
from simulators.scenario import Scenario, conditions_for, load_scenario

RESULTS = Path(__file__).parent / "results" / "alarms.json"
ALL_AT_ONCE = "flood-enim+grid-outage+node-down+bad-firmware"
"""The shipped scenarios together, each on a fleet of its own: the flood must still lead."""
SCENARIOS = (
    "flood-enim",
    "flood-enim-mixed",
    "grid-outage",
    "node-down",
    "bad-firmware",
    "quiet-day",
    ALL_AT_ONCE,
)
MIXED = "-mixed"
"""Suffix: the scenario's gauges also get a second feed from a dry world (two simulators
publishing as the same gauges, as happened during the issue-14 trial)."""
DEFAULT_COUNTS = {"streetlight": 12, "flood_gauge": 4, "network_node": 4}
TICK = timedelta(seconds=60)
STEP = timedelta(seconds=60)
"""Messages are written and judged in batches of this much simulated time."""
SEED = 1
QUIET_DAY = timedelta(hours=24)
WINDOW = timedelta(minutes=10)


class _Recorder(Dispatcher):
    """Records each annunciation with the simulated time; sends nothing."""

    def __init__(self, clock: _SimClock) -> None:
        super().__init__([], attempts=1, backoff_s=0)
        self._clock = clock
        self.events: list[tuple[datetime, str, dict[str, Any]]] = []

    def submit(self, notification: Notification) -> None:
        self.events.append((self._clock(), notification.event, notification.alert))


@dataclass
class _SimClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class _Run:
    annunciations: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    """(time, rule:subject, priority, event)"""
    first_flood_position: int | None = None


def _fleet(kinds: KindRegistry, scenario: Scenario | None, prefix: str) -> list[SimDevice]:
    counts = dict(scenario.counts) if scenario and scenario.counts else dict(DEFAULT_COUNTS)
    spec = FleetSpec(
        counts=counts,
        districts=scenario.districts if scenario else (),
        rivers=scenario.rivers if scenario else (),
        id_prefix=prefix,
    )
    return build_sim_fleet(kinds, spec, SEED)


def _window(duration: timedelta, start_local: dt_time | None, tz: str) -> tuple[datetime, datetime]:
    """The latest [start, end) of ``duration`` ending at least an hour ago (ingest's window)
    and starting at ``start_local`` (WIB) when the scenario names an hour."""
    latest_end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    start = latest_end - duration
    if start_local is not None:
        zone = ZoneInfo(tz)
        local = start.astimezone(zone)
        start = local.replace(hour=start_local.hour, minute=start_local.minute)
        if start.astimezone(UTC) + duration > latest_end:
            start -= timedelta(days=1)
        start = start.astimezone(UTC)
    return start, start + duration


def _scenarios(kinds: KindRegistry, name: str) -> list[Scenario | None]:
    """The scenarios a bench name stands for ("a+b": together; None: a quiet day)."""
    parts = [p.removesuffix(MIXED) for p in name.split("+")]
    return [None if p == "quiet-day" else load_scenario(p, list(kinds)) for p in parts]


def _config(fleet: list[SimDevice], *, baseline: bool) -> AlertConfig:
    """What the registry would hold for this fleet: thresholds, feeders, uplinks."""
    stations = {
        d.id: FloodThresholds(
            waspada=d.station.waspada_cm,
            siaga=d.station.siaga_cm,
            awas=d.station.awas_cm,
            dwell_min=0 if baseline else 30,
        )
        for d in fleet
        if d.station is not None
    }
    extra: dict[str, Any] = (
        {"stale_uplink_min": 2, "stale_fleet_min": 2, "rise_clear_dwell_min": 0} if baseline else {}
    )
    return AlertConfig(
        flood_stations=stations,
        feeders={d.id: d.feeder for d in fleet if d.feeder},
        uplinks={d.id: d.uplink for d in fleet if d.uplink},
        lamp_settle_s=0,
        **extra,
    )


async def _replay(
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    name: str,
    *,
    baseline: bool,
) -> tuple[_Run, dict[str, Any]]:
    parts = _scenarios(kinds, name)
    duration = max(sc.duration if sc else QUIET_DAY for sc in parts)
    first = parts[0]
    start, end = _window(duration, first.start_local if first else None, AlertConfig().timezone)
    fleet: list[SimDevice] = []
    streams = []
    for i, scenario in enumerate(parts):
        own = _fleet(kinds, scenario, "SIM" if len(parts) == 1 else f"S{i + 1}")
        fleet += own
        world = conditions_for(scenario, own, start, end, SEED)
        streams.append(plan(own, kinds, world, start, end, SEED))
        if name.endswith(MIXED):
            dry = conditions_for(None, own, start, end, SEED + 1)
            streams.append(
                e for e in plan(own, kinds, dry, start, end, SEED + 1) if e.device.station
            )
    await upsert_devices(pool, [d.row for d in fleet])
    clock = _SimClock(start)
    recorder = _Recorder(clock)
    config = _config(fleet, baseline=baseline)
    sink = AlertSink(pool, recorder, tz=config.timezone)
    evaluator = AlertEvaluator(pool, kinds, config, sink, clock=clock)
    run = _Run()
    seen = 0
    limits = DecodeLimits()
    by_id = {d.id: d for d in fleet}
    stream = heapq.merge(*streams, key=lambda e: e.at)
    emissions = iter(stream)
    pending = next(emissions, None)
    next_tick = start + TICK
    t = start
    while t < end:
        t += STEP
        clock.now = t
        readings: list[Reading] = []
        while pending is not None and pending.at < t:
            dev = by_id[pending.device.id]
            got, _ = decode_telemetry(kinds[dev.kind], dev.id, pending.payload(), t, limits)
            readings += got
            pending = next(emissions, None)
        if readings:
            await write_batch(pool, kinds, readings, [], t)
            await evaluator.on_readings(reading_items(readings, t))
            await evaluator.settle()
        if t >= next_tick:
            next_tick += TICK
            await evaluator.tick()
        for at, event, alert in recorder.events[seen:]:
            if event in ("opened", "escalated", "returned"):
                key = f"{alert['rule']}:{alert['subject']}"
                run.annunciations.append((at, key, alert["priority"], event))
                is_flood = alert["level"] in (FloodLevel.SIAGA, FloodLevel.AWAS)
                if is_flood and run.first_flood_position is None:
                    listed = await list_alerts(pool, limit=5000)
                    standing = [a.id for a in listed if a.status != "resolved"]
                    if alert["id"] in standing:  # else it cleared within the same step
                        run.first_flood_position = standing.index(alert["id"]) + 1
        seen = len(recorder.events)
    left = await active_alerts(pool)
    return run, {"standing_at_end": len(left), "duration_h": duration.total_seconds() / 3600}


def _kpis(run: _Run, duration_h: float, standing: int) -> dict[str, Any]:
    windows: Counter[int] = Counter()
    start = min((a[0] for a in run.annunciations), default=None)
    for at, *_ in run.annunciations:
        assert start is not None
        windows[int((at - start) / WINDOW)] += 1
    per_alarm: dict[str, list[datetime]] = defaultdict(list)
    for at, key, _, event in run.annunciations:
        if event != "escalated":  # going in and out of alarm, not getting worse
            per_alarm[key].append(at)
    chattering = sorted(
        key
        for key, times in per_alarm.items()
        if any(times[i + 2] - times[i] <= timedelta(minutes=1) for i in range(len(times) - 2))
    )
    repeating = sorted(
        key
        for key, times in per_alarm.items()
        if any(times[i + 2] - times[i] <= timedelta(hours=1) for i in range(len(times) - 2))
    )
    prio = Counter(p for _, _, p, _ in run.annunciations)
    total = len(run.annunciations)
    out: dict[str, Any] = {
        "duration_h": round(duration_h, 1),
        "alarms": total,
        "peak_per_10min": max(windows.values(), default=0),
        "average_per_10min": round(total / (duration_h * 6), 3),
        "floods": sum(1 for n in windows.values() if n > 10),
        "chattering": len(chattering),
        "chattering_alarms": chattering[:10],
        "repeating": len(repeating),
        "repeating_alarms": repeating[:10],
        "standing_at_end": standing,
        "priority_distribution": {
            p: round(prio[p] / total, 3) if total else 0.0
            for p in ("urgent", "high", "medium", "low")
        },
        "priority_counts": dict(prio),
        "by_rule": dict(Counter(key.split(":", 1)[0] for _, key, _, _ in run.annunciations)),
        "by_event": dict(Counter(ev for _, _, _, ev in run.annunciations)),
    }
    if run.first_flood_position is not None:
        out["first_flood_position"] = run.first_flood_position
    return out


async def _scenario(url: str, kinds: KindRegistry, name: str, baseline: bool) -> dict[str, Any]:
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        t0 = time.perf_counter()
        run, extra = await _replay(pool, kinds, name, baseline=baseline)
        out = _kpis(run, extra["duration_h"], extra["standing_at_end"])
        out["replay_seconds"] = round(time.perf_counter() - t0, 1)
        return out
    finally:
        await pool.close()


def _in_scratch_database(
    server: str, kinds: KindRegistry, name: str, baseline: bool
) -> dict[str, Any]:
    """One replay in a database of its own (same device ids, same seed: same stream)."""
    db = f"citysense_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"'.encode())
    url = urlunsplit(urlsplit(server)._replace(path=f"/{db}"))
    try:
        migrate(url, retention_days=730)
        return asyncio.run(_scenario(url, kinds, name, baseline))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'.encode())


def main() -> int:
    logging.getLogger("alerts").setLevel(logging.ERROR)
    server = os.environ.get(
        "CITYSENSE_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    wanted = [s for s in os.environ.get("CITYSENSE_BENCH_SCENARIOS", "").split(",") if s]
    kinds = builtin_kinds()
    results: dict[str, Any] = {}
    for name in wanted or SCENARIOS:
        now = _in_scratch_database(server, kinds, name, baseline=False)
        before = _in_scratch_database(server, kinds, name, baseline=True)
        now["baseline"] = {
            k: before[k]
            for k in (
                "alarms",
                "peak_per_10min",
                "average_per_10min",
                "floods",
                "chattering",
                "repeating",
                "by_rule",
            )
        }
        results[name] = now
        print(
            f"{name:13} alarms {now['alarms']:4} peak/10min {now['peak_per_10min']:3}"
            f" avg/10min {now['average_per_10min']:6} floods {now['floods']}"
            f" chattering {now['chattering']} repeating {now['repeating']}"
            f" standing {now['standing_at_end']}"
            f" first flood at {now.get('first_flood_position', '-')}"
            f" | baseline alarms {before['alarms']} peak {before['peak_per_10min']}"
            f" chattering {before['chattering']} repeating {before['repeating']}",
            flush=True,
        )
    quiet = results.get("quiet-day")
    targets = {
        "quiet_day_at_most_1_per_10min": quiet is None or quiet["average_per_10min"] <= 1,
        "no_chattering": all(r["chattering"] == 0 for r in results.values()),
        "flood_first": all(r.get("first_flood_position", 1) == 1 for r in results.values()),
    }
    doc = {
        "scenarios": results,
        "targets": targets,
        "method": "simulated stream -> real decode + write path (PostgreSQL) -> real evaluator"
        " on a simulated clock; baseline = no dwell (flood level, fast-rise clearing) and late"
        " data alarmed from 2 devices",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"targets: {targets}\n-> {RESULTS}")
    return 0 if all(targets.values()) else 1
