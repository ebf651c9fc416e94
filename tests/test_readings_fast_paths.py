"""The storage side's shortcuts give what the plain versions gave (the COPY rows: see
tests/test_copy_binary.py): the repeat check that skips the ordered
de-duplication, and latest state merged in one pass unless a device's times go backwards."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from core.kinds import KindRegistry, builtin_kinds
from core.storage import readings as readings_module
from core.storage.batches import write_batch
from core.storage.readings import first_of_each, latest_rows
from core.wire import Reading, Value

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
GAUGE = builtin_kinds()["flood_gauge"]
FULL = {"water_level": 1.5, "rain": 0.0, "battery_v": 12.5, "rssi": -70, "power_source": "PLN"}


def test_first_of_each_without_repeats_keeps_every_reading_in_order() -> None:
    batch = [
        Reading(f"G{i % 3}", "flood_gauge", T0 + timedelta(seconds=i // 3), {}) for i in range(9)
    ]
    assert list(first_of_each(batch)) == batch
    # Same time on other devices is not a repeat; the same instant on the same device is.
    other_zone = T0.astimezone(timezone(timedelta(hours=7)))
    repeat = Reading("G0", "flood_gauge", other_zone, {"rain": 9.0})
    assert list(first_of_each([*batch, repeat])) == batch


def _reference_latest(readings: list[Reading]) -> dict[str, tuple[str, datetime, dict[str, Value]]]:
    """The latest-state merge as it was before the one-pass shortcut: sort by time, merge."""
    newest: dict[str, tuple[str, datetime, dict[str, Value]]] = {}
    for r in sorted(readings, key=lambda r: r.time):
        prev = newest.get(r.device_id)
        merged = {**prev[2], **r.values} if prev else dict(r.values)
        newest[r.device_id] = (r.kind, r.time, merged)
    return newest


def _check_latest(readings: list[Reading]) -> None:
    ids, kinds, times, values = latest_rows(readings)
    ref = _reference_latest(readings)
    assert ids == sorted(ref)
    assert kinds == [ref[d][0] for d in ids]
    assert times == [ref[d][1] for d in ids]
    # The same JSON as json.dumps (orjson's text is compact), value types included.
    assert [_typed(json.loads(v)) for v in values] == [_typed(ref[d][2]) for d in ids]


def _typed(values: dict[str, Any]) -> list[tuple[str, type, str]]:
    return [(k, type(v), repr(v)) for k, v in values.items()]


def test_values_json_is_the_json_of_odd_values_too() -> None:
    """orjson's text parses back to the values, and what orjson refuses (an int beyond 64
    bits) takes the stdlib encoder."""
    odd: list[dict[str, Value]] = [
        {"a": -0.0, "b": 1.0, "c": 1, "d": 1e16, "e": 5e-324, "f": 1.7976931348623157e308},
        {"a": 2**63 - 1, "b": -(2**63), "c": 2**64 - 1, "d": True, "e": False},
        {"a": 2**64, "b": 1.5},
        {"a": -(10**30)},
        {"a": "é€😀", "b": '"\\/\n\x00\x1f\u2028', "c": ""},
        {},
    ]
    for values in odd:
        text = readings_module._values_json(values)
        assert _typed(json.loads(text)) == _typed(values), values


def test_latest_rows_match_the_sorted_merge_in_and_out_of_order() -> None:
    rng = random.Random(7)
    fields = list(FULL)
    for trial in range(300):
        readings = []
        for _ in range(rng.randint(0, 30)):
            picked = rng.sample(fields, rng.randint(1, len(fields)))
            values: dict[str, Value] = {f: rng.choice([1.0, 2.5, -3, "PLN", True]) for f in picked}
            at = T0 + timedelta(seconds=rng.randint(0, 10))  # equal times too
            readings.append(Reading(f"D{rng.randint(0, 3)}", "flood_gauge", at, values))
        if trial % 2:  # each device's readings oldest first: the one-pass path
            readings.sort(key=lambda r: r.time)
        _check_latest(readings)
    # The mutable merge never writes into a reading's own values.
    a = Reading("A", "flood_gauge", T0, {"rain": 1.0})
    b = Reading("A", "flood_gauge", T0 + timedelta(seconds=1), {"rssi": -60})
    latest_rows([a, b])
    assert (a.values, b.values) == ({"rain": 1.0}, {"rssi": -60})


def test_a_device_going_backwards_in_a_batch_is_merged_by_time() -> None:
    newer = Reading("A", "flood_gauge", T0 + timedelta(minutes=5), {"water_level": 300.0})
    backlog = [
        Reading(
            "A", "flood_gauge", T0 + timedelta(minutes=m), {"water_level": float(m), "rain": 1.0}
        )
        for m in range(5)
    ]
    ids, _, times, values = latest_rows([newer, *backlog])
    assert (ids, times) == (["A"], [T0 + timedelta(minutes=5)])
    assert json.loads(values[0]) == {"water_level": 300.0, "rain": 1.0}


@pytest.mark.anyio
async def test_an_out_of_order_backlog_moves_latest_state_forward_only(
    pool: asyncpg.Pool, kinds: KindRegistry, uid: str
) -> None:
    dev = f"LO{uid}"

    def reading(minute: int, **values: Value) -> Reading:
        return Reading(dev, "flood_gauge", T0 + timedelta(minutes=minute), values)

    async def state() -> tuple[datetime, dict[str, Any]]:
        row = await pool.fetchrow(
            'SELECT time, "values" FROM latest_state WHERE device_id = $1', dev
        )
        assert row is not None
        return row["time"], json.loads(row["values"])

    # In one batch: the live reading, then the backlog before it (the device going back).
    batch = [
        reading(10, water_level=300.0),
        *(reading(m, water_level=float(m), rain=1.0) for m in range(5)),
    ]
    await write_batch(pool, kinds, batch, [], T0 + timedelta(minutes=11))
    assert await state() == (T0 + timedelta(minutes=10), {"water_level": 300.0, "rain": 1.0})
    # A later batch, in order, of readings older than what is stored: nothing moves.
    await write_batch(pool, kinds, [reading(m, rssi=-90) for m in range(5, 9)], [], T0)
    assert await state() == (T0 + timedelta(minutes=10), {"water_level": 300.0, "rain": 1.0})
    # A newer in-order backlog moves it forward, merged over what was there.
    await write_batch(pool, kinds, [reading(11, rssi=-80), reading(12, battery_v=12.0)], [], T0)
    assert await state() == (
        T0 + timedelta(minutes=12),
        {"water_level": 300.0, "rain": 1.0, "rssi": -80, "battery_v": 12.0},
    )
