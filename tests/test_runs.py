"""A batch worked a run at a time gives what the per-reading passes give: the same latest
state rows, rollup marks, readings to announce, spans and notifications, for batches whose
runs go back in time, tie, repeat a device, cross hours or mix kinds and field sets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from core.kinds import builtin_kinds
from core.storage.batches import _by_kind
from core.storage.events import _hours, batch_events, live_readings
from core.storage.readings import latest_rows
from core.storage.runs import LONG, runs_of
from core.wire import Reading

KINDS = builtin_kinds()
NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
FIELDS = {
    "flood_gauge": ("water_level", "rain", "battery_v"),
    "network_node": ("latency", "loss_pct"),
    "streetlight": ("dim_pct", "power_w"),
}


def _batch(rng: random.Random) -> list[Reading]:
    """Messages as ingest lists them: each a run of one device's readings."""
    devices = [(f"D-{i}", rng.choice(list(FIELDS))) for i in range(rng.randint(1, 6))]
    out: list[Reading] = []
    for _ in range(rng.randint(1, 12)):
        device, kind = rng.choice(devices)
        start = NOW - timedelta(minutes=rng.randint(0, 300))
        step = timedelta(seconds=rng.choice([0, 1, 30, 600]))  # 0: equal times
        times = [start + i * step for i in range(rng.choice([1, 2, 5, 9, 30]))]
        if rng.random() < 0.2:
            rng.shuffle(times)  # a message whose items go back in time
        for t in times:
            names = FIELDS[kind]
            picked = rng.sample(names, rng.randint(1, len(names)))  # partial field sets
            values: dict[str, float | int | str | bool | None] = {
                n: rng.choice([1.5, 2.0, 7]) for n in picked
            }
            out.append(Reading(device, kind, t, values))
    return out


@pytest.mark.parametrize("seed", range(300))
def test_worked_per_run_equals_worked_per_reading(seed: int) -> None:
    rng = random.Random(seed)
    readings = _batch(rng)
    runs = runs_of(readings, long=1)
    assert runs is not None
    assert [r for run in runs for r in run.readings] == readings
    assert latest_rows(readings, runs) == latest_rows(readings)
    assert live_readings(readings, KINDS, runs) == live_readings(readings, KINDS)
    assert _hours(readings, runs) == _hours(readings, None)
    assert _by_kind(readings, runs) == _by_kind(readings, None)
    with_runs = batch_events(readings, NOW, KINDS, runs)
    assert with_runs == batch_events(readings, NOW, KINDS)


def test_live_traffic_is_worked_per_reading_and_backlogs_per_run() -> None:
    live = [Reading(f"D-{i % 50}", "flood_gauge", NOW, {"water_level": 1.0}) for i in range(500)]
    assert runs_of(live) is None
    backlog = [
        Reading(f"D-{i // 100}", "flood_gauge", NOW + timedelta(seconds=i), {"water_level": 1.0})
        for i in range(500)
    ]
    runs = runs_of(backlog)
    assert runs is not None
    assert [(r.device_id, len(r.readings), r.ordered) for r in runs] == [
        (f"D-{i}", 100, True) for i in range(5)
    ]
    assert runs_of(backlog[: LONG - 1]) is None
    assert runs_of([]) is None
