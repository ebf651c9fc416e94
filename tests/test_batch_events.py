"""The per-batch announcement ingest makes: compact "readings" chunks that decode to exactly
the items the live stream and the evaluator consumed before, every chunk under PostgreSQL's
NOTIFY limit (a reading too large to announce must not fail its batch), all delivered, in
order, by one round trip."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from core.storage.events import (
    CHANNEL,
    MAX_PAYLOAD,
    announce,
    batch_events,
    chunk_payloads,
    decode_notification,
    publish_events,
    reading_items,
    readings_payloads,
)
from core.wire import Reading

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def _readings(device: str, n: int) -> list[Reading]:
    return [
        Reading(
            f"{device}-{i % 7}",
            "flood_gauge",
            NOW - timedelta(milliseconds=13 * i),
            {"water_level": 100.5 + i, "rssi": -80, "power_source": "PLN", "ok": i % 2 == 0},
        )
        for i in range(n)
    ]


def _mixed() -> list[Reading]:
    """Several kinds, devices and value shapes; repeated and equal times; late data."""
    out: list[Reading] = []
    for i in range(400):
        t = NOW - timedelta(seconds=i // 3, microseconds=(i * 7919) % 1_000_000)
        out.append(
            Reading(
                f"SL-{i % 13}",
                "streetlight",
                t,
                {
                    "power_state": ("on", "off", "low")[i % 3],
                    "dim_pct": float(i % 100),
                    "energy": 1234.567 + i,
                    "lamp_failure": i % 5 == 0,
                    "relay_failure": False,
                },
            )
        )
        out.append(
            Reading(
                f"NN-{i % 29}",
                "network_node",
                t,  # the same instant as the light: ordered by device id
                {"uptime": 3_000_000_000 + i, "latency": 20.25, "clients": i % 60},
            )
        )
    gauge = {"water_level": 250.125, "rain": 0.0, "rssi": -91, "power_source": "PLTS"}
    late = NOW - timedelta(days=200)
    out += [
        Reading("FG-1", "flood_gauge", late, dict(gauge)),
        Reading("FG-1", "flood_gauge", late, dict(reversed(gauge.items()))),  # key order kept
        Reading("FG-1", "flood_gauge", late, {"rssi": -90}),  # a subset of the fields
        Reading("FG-2", "flood_gauge", late, {}),
        Reading("FG-3", "flood_gauge", late, {"rssi": -(2**70), "huge": 2**63, "x": -0.0}),
        Reading("FG-3", "flood_gauge", late, {"mixed": 1, "also": [1.5, "a"]}),
        Reading('Ü"\\x\n', "k", late, {"text": 'quote " back \\ ctl \x01 ü €', "n": None}),
        Reading("FG-4", "flood_gauge", datetime(2000, 1, 1, tzinfo=UTC), {"rain": 1.0}),
        Reading("FG-4", "flood_gauge", datetime(2099, 12, 31, 23, 59, 59, 999999, UTC), {}),
        Reading("FG-4", "flood_gauge", datetime(1, 1, 1, tzinfo=UTC), {"b": True}),
        Reading("FG-4", "flood_gauge", datetime(9999, 12, 31, 1, 2, 3, 4, UTC), {"b": False}),
    ]
    out += out[:50]  # in-batch repeats
    return out


def _decoded(payloads: list[str]) -> list[dict[str, Any]]:
    items = []
    for p in payloads:
        kind, chunk = decode_notification(p)
        assert kind == "readings"
        items += chunk
    return items


def _assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert got == want
    # Same key order too: the live stream re-encodes items as they are.
    assert [list(it) for it in got] == [list(it) for it in want]
    assert [list(it["values"]) for it in got] == [list(it["values"]) for it in want]
    assert [[type(v) for v in it["values"].values()] for it in got] == [
        [type(v) for v in it["values"].values()] for it in want
    ]


@pytest.mark.parametrize(
    "readings",
    [
        pytest.param(_mixed(), id="mixed"),
        pytest.param(_readings("G", 300), id="backlog"),
        pytest.param(
            [Reading(f"D{i:05d}", "flood_gauge", NOW, {"rain": i / 7}) for i in range(700)],
            id="many-devices-one-time",  # more than 256 devices in a chunk
        ),
        pytest.param(_readings("ONE", 1), id="one"),
    ],
)
def test_payloads_decode_to_the_reading_items(readings: list[Reading]) -> None:
    payloads = readings_payloads(readings, NOW)
    assert all(len(p.encode()) <= MAX_PAYLOAD < 8000 for p in payloads)
    assert all(json.loads(p)["v"] == 3 for p in payloads)
    _assert_same(_decoded(payloads), reading_items(readings, NOW))


def test_a_batch_with_local_times_keeps_their_offsets() -> None:
    wib = timezone(timedelta(hours=7))
    readings = [
        *_readings("L", 40),
        Reading("L-x", "k", datetime(2026, 11, 28, 11, 30, tzinfo=wib), {"a": 1.0}),
        Reading("L-y", "k", NOW.replace(tzinfo=timezone(timedelta(0))), {"a": 2.0}),
    ]
    payloads = readings_payloads(readings, NOW.astimezone(wib))
    items = _decoded(payloads)
    _assert_same(items, reading_items(readings, NOW.astimezone(wib)))
    assert "2026-11-28T11:30:00+07:00" in [it["time"] for it in items]
    assert all(isinstance(json.loads(p)["time"], list) for p in payloads)


def test_the_payload_is_much_smaller_than_an_object_per_reading() -> None:
    readings = _readings("S", 2000)
    new = sum(map(len, readings_payloads(readings, NOW)))
    old = sum(map(len, chunk_payloads("readings", reading_items(readings, NOW))))
    assert new * 3 < old


def test_a_reading_too_large_to_announce_is_left_out_not_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge = Reading("BIG", "k", NOW - timedelta(seconds=5), {"note": "x" * 9000})
    readings = [*_readings("H", 200), huge]
    with caplog.at_level(logging.WARNING, logger="core.storage.events"):
        payloads = readings_payloads(readings, NOW)
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    rest = [r for r in readings if r is not huge]
    _assert_same(_decoded(payloads), reading_items(rest, NOW))
    assert "BIG" in caplog.text
    assert "too large to announce" in caplog.text


def test_alerts_states_and_old_readings_pass_through() -> None:
    alerts = [{"id": 7, "device_id": "X", "kind": "flood_gauge", "rule": "siaga"}]
    for kind in ("alert", "state"):
        for p in chunk_payloads(kind, alerts):
            assert decode_notification(p) == (kind, alerts)
    old = chunk_payloads("readings", reading_items(_readings("O", 3), NOW))
    assert decode_notification(old[0]) == ("readings", reading_items(_readings("O", 3), NOW))


def test_marked_devices_decode_with_the_backlog_flag_and_version_2_still_decodes() -> None:
    readings = [*_readings("M", 20), *_readings("N", 5)]
    items = [
        it for p in readings_payloads(readings, NOW, {"M"}) for it in decode_notification(p)[1]
    ]
    expected = reading_items(readings, NOW)
    for it in expected:
        if it["device_id"] == "M":
            it["backlog"] = True
    assert items == expected
    unmarked = json.loads(readings_payloads(readings, NOW)[0])
    assert "backlog" not in unmarked
    assert decode_notification(json.dumps({**unmarked, "v": 2}))[1] == reading_items(readings, NOW)


def test_malformed_payloads_raise_value_error_only() -> None:
    good = json.loads(readings_payloads(_readings("M", 20), NOW)[0])
    bad: list[str] = [
        "not json",
        "[1, 2]",
        '{"items": []}',
        '{"type": 3, "items": []}',
        '{"type": "state", "items": {}}',
        '{"type": "state", "items": [1]}',
        json.dumps({**good, "v": 4}),
        json.dumps({**good, "backlog": "0"}),
        json.dumps({**good, "backlog": [99]}),
        json.dumps({**good, "backlog": [True]}),
        json.dumps({**good, "time": good["time"][:-4]}),
        json.dumps({**good, "time": 5}),
        json.dumps({**good, "device": "AAAA"}),
        json.dumps({**good, "device": "/w=="}),
        json.dumps({**good, "devices": []}),
        json.dumps({**good, "shapes": []}),
        json.dumps({**good, "shapes": [["k", ["a"], ["z"]]]}),
        json.dumps({**good, "shapes": [["k", ["a"], [[1, 2]]]]}),
        json.dumps({k: v for k, v in good.items() if k != "received_at"}),
    ]
    for payload in bad:
        with pytest.raises(ValueError):  # noqa: PT011 - any reason will do, but only this type
            decode_notification(payload)


async def test_a_large_batch_arrives_whole_and_in_order(database_url: str, uid: str) -> None:
    readings = _readings(f"EV{uid}", 500)
    huge = Reading(f"EV{uid}-big", "k", NOW, {"note": "y" * 9000})
    got: list[str] = []
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CHANNEL, lambda *args: got.append(args[3]))
        async with writer.transaction():
            # The oversize reading would make a NOTIFY over 8000 bytes and fail the commit.
            await publish_events(writer, batch_events([*readings, huge], NOW))
        want = reading_items(readings, NOW)  # all but the big one, in order
        for _ in range(100):
            if len(_decoded([p for p in got if uid in p])) >= len(want):
                break
            await asyncio.sleep(0.05)
        mine = [p for p in got if uid in p]
        assert len(mine) > 1
        assert all(len(p.encode()) <= MAX_PAYLOAD for p in mine)
        _assert_same(_decoded(mine), want)
        dirty = await writer.fetch(
            "SELECT kind, device_id, bucket FROM rollup_dirty WHERE device_id LIKE $1",
            f"EV{uid}-%",
        )
        hours = {
            (r.kind, r.device_id, r.time.replace(minute=0, second=0, microsecond=0))
            for r in [*readings, huge]
        }
        assert len(hours) == 9  # 7 devices in the 04:00 hour, the newest and the big at 05:00
        assert {(d["kind"], d["device_id"], d["bucket"]) for d in dirty} == hours
    finally:
        await listener.close()
        await writer.close()


def test_the_live_hub_publishes_each_decoded_reading_and_ignores_malformed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from api.live import EventHub

    readings = _mixed()[:120]
    hub = EventHub("postgresql://unused")
    with caplog.at_level(logging.WARNING, logger="api.live"):
        hub._on_notify(None, 0, CHANNEL, "{not json")
        hub._on_notify(None, 0, CHANNEL, '{"type": "readings", "v": 9}')
        for p in readings_payloads(readings, NOW):
            hub._on_notify(None, 0, CHANNEL, p)
    assert caplog.text.count("ignoring malformed notification") == 2
    events = hub.since(hub.last_id - len(readings))
    assert events is not None
    assert [(e.type, e.device_id, e.kind) for e in events] == [
        ("reading", it["device_id"], it["kind"]) for it in reading_items(readings, NOW)
    ]
    assert [e.data for e in events] == [
        json.dumps(it, default=str) for it in reading_items(readings, NOW)
    ]


async def test_an_alert_too_large_to_announce_is_left_out_not_the_others(
    database_url: str, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    """announce() goes through pg_notify too: one oversize item must not make it refuse
    the call, and so lose every other item's announcement with it."""
    small = [{"id": i, "device_id": f"AL{uid}-{i}", "kind": "flood_gauge"} for i in range(3)]
    big = {"id": 99, "device_id": f"AL{uid}-big", "kind": "flood_gauge", "message": "z" * 9000}
    got: list[str] = []
    listener = await asyncpg.connect(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await listener.add_listener(CHANNEL, lambda *args: got.append(args[3]))
        with caplog.at_level(logging.WARNING, logger="core.storage.events"):
            await announce(pool, "alert", [small[0], big, *small[1:]])
        for _ in range(100):
            if any(uid in p for p in got):
                break
            await asyncio.sleep(0.05)
        items = [it for p in got if uid in p for it in decode_notification(p)[1]]
        assert items == small
        assert "too large to announce" in caplog.text
    finally:
        await pool.close()
        await listener.close()
