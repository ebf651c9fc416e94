"""The wire contract's decoding rules, without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.kinds import FLOOD_GAUGE, STREETLIGHT
from core.wire import DecodeLimits, Topics, decode_telemetry, encode_telemetry

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
LIMITS = DecodeLimits(
    max_payload_bytes=2048, max_future=timedelta(minutes=5), max_age=timedelta(days=30)
)


def decode(payload: bytes | str, kind=FLOOD_GAUGE):  # type: ignore[no-untyped-def]
    raw = payload.encode() if isinstance(payload, str) else payload
    return decode_telemetry(kind, "G1", raw, NOW, LIMITS)


def test_topics_round_trip() -> None:
    t = Topics("citysense/v1")
    topic = t.telemetry("flood_gauge", "AWLR-01")
    assert topic == "citysense/v1/flood_gauge/AWLR-01/telemetry"
    parts = t.parse(topic)
    assert parts is not None
    assert (parts.kind, parts.device_id, parts.channel) == ("flood_gauge", "AWLR-01", "telemetry")
    assert t.parse("citysense/v1/flood_gauge/AWLR-01") is None
    assert t.parse("other/v1/flood_gauge/AWLR-01/telemetry") is None
    assert t.parse("citysense/v1/flood_gauge/bad id/telemetry") is None


def test_iso_and_epoch_ms_timestamps_agree() -> None:
    iso, _ = decode('{"ts": "2026-11-28T11:30:00+07:00", "water_level": 120}')
    ms, _ = decode(
        json.dumps(
            {
                "ts": int(datetime(2026, 11, 28, 4, 30, tzinfo=UTC).timestamp() * 1000),
                "water_level": 120,
            }
        )
    )
    assert iso[0].time == ms[0].time == datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
    assert iso[0].values == {"water_level": 120.0}


def test_backlog_array_keeps_good_items_and_names_bad_ones() -> None:
    payload = json.dumps(
        [
            {"ts": "2026-11-28T04:00:00Z", "water_level": 100},
            {"ts": "2026-11-28T04:05:00Z", "water_level": 99999},
            {"ts": "2026-11-28T04:10:00Z", "water_level": 101},
        ]
    )
    readings, rejections = decode(payload)
    assert [r.values["water_level"] for r in readings] == [100.0, 101.0]
    assert len(rejections) == 1
    assert rejections[0].code == "invalid"
    assert rejections[0].reason.startswith("item 1: water_level=99999.0 cm is outside")


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        (b"\xff\xfe not json", "not_json", "not UTF-8 JSON"),
        ('{"ts": "2026-11-28T04:00:00Z", "water_level": NaN}', "not_json", "NaN"),
        ('{"ts": "2026-11-28T04:00:00Z", "water_level": Infinity}', "not_json", "Infinity"),
        ('{"ts": "2026-11-28T04:00:00Z", "water_level": "high"}', "invalid", "must be a number"),
        ('{"ts": "2026-11-28T04:00:00Z", "rssi": -70.5}', "invalid", "whole number"),
        ('{"ts": "2026-11-28T04:00:00Z", "power_source": "diesel"}', "invalid", "one of PLN, PLTS"),
        ('{"ts": "2026-11-28T04:00:00Z", "colour": 1}', "invalid", "unknown field 'colour'"),
        ('{"ts": "2026-11-28T04:00:00Z"}', "invalid", "no telemetry fields"),
        ('{"water_level": 1}', "invalid", "'ts' is required"),
        ('{"ts": "2026-11-28T04:00:00", "water_level": 1}', "invalid", "no UTC offset"),
        ('{"ts": 1764302400, "water_level": 1}', "invalid", "looks like epoch seconds"),
        ('{"ts": "2026-11-28T06:00:00Z", "water_level": 1}', "future", "ahead of the server"),
        ('{"ts": "2026-01-01T00:00:00Z", "water_level": 1}', "too_old", "retention"),
        ("[]", "invalid", "empty array"),
        ("[1]", "invalid", "item 0: expected a JSON object"),
        (b"{" + b" " * 3000 + b"}", "too_large", "exceeds the 2048-byte limit"),
    ],
)
def test_rejections_say_what_to_fix(payload: bytes | str, code: str, fragment: str) -> None:
    readings, rejections = decode(payload)
    assert readings == []
    assert len(rejections) == 1
    assert rejections[0].code == code
    assert fragment in rejections[0].reason


def test_booleans_are_not_numbers_and_numbers_are_not_booleans() -> None:
    _, rej = decode('{"ts": "2026-11-28T04:00:00Z", "water_level": true}')
    assert "must be a number" in rej[0].reason
    _, rej = decode('{"ts": "2026-11-28T04:00:00Z", "lamp_failure": 1}', kind=STREETLIGHT)
    assert "true or false" in rej[0].reason


def test_encode_is_what_decode_reads() -> None:
    payload = encode_telemetry([{"ts": NOW - timedelta(minutes=1), "water_level": 210.5}])
    readings, rejections = decode(payload)
    assert rejections == []
    assert readings[0].time == NOW - timedelta(minutes=1)
    assert readings[0].values == {"water_level": 210.5}
