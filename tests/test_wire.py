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
        # Hardened (issue 13): NUL, non-UTF-8, duplicate keys, sub-microsecond, nesting.
        ('{"ts": "2026-11-28T04:00:00Z\\u0000junk", "water_level": 1}', "not_json", "NUL"),
        ('{"ts": "2026-11-28T04:00:00Z", "power_source": "PLN\\u0000"}', "not_json", "NUL"),
        ('{"ts": "2026-11-28T04:00:00Z", "\\u0000": 1}', "not_json", "NUL"),
        (
            '{"ts": "2026-11-28T04:00:00Z", "water_level": 1}'.encode("utf-16"),
            "not_json",
            "looks like UTF-16 or UTF-32",
        ),
        (
            '{"ts": "2026-11-28T04:00:00Z", "water_level": 1}'.encode("utf-32-le"),
            "not_json",
            "looks like UTF-16 or UTF-32",
        ),
        (
            b'\xef\xbb\xbf{"ts": "2026-11-28T04:00:00Z", "water_level": 1}',
            "not_json",
            "byte order mark",
        ),
        (b'{"ts": "2026-11-28T04:00:00Z", "water_level": "\xe9"}', "not_json", "not UTF-8"),
        (
            '{"ts": "2026-11-28T04:00:00Z", "water_level": 1, "water_level": 2}',
            "not_json",
            "key 'water_level' appears twice in one object",
        ),
        (
            '[{"ts": "2026-11-28T04:00:00Z", "ts": "2026-11-28T04:01:00Z", "water_level": 1}]',
            "not_json",
            "key 'ts' appears twice",
        ),
        (
            '{"ts": "2026-11-28T04:00:00Z", "a:": 1, "a\\u003a": 2}',
            "not_json",
            "key 'a:' appears twice",
        ),
        (
            '{"ts": "2026-11-28T04:00:00.0000001Z", "water_level": 1}',
            "invalid",
            "more precise than a microsecond",
        ),
    ],
)
def test_rejections_say_what_to_fix(payload: bytes | str, code: str, fragment: str) -> None:
    readings, rejections = decode(payload)
    assert readings == []
    assert len(rejections) == 1
    assert rejections[0].code == code
    assert fragment in rejections[0].reason


def test_readings_a_microsecond_apart_stay_two_and_finer_ones_are_refused() -> None:
    ok, rej = decode(
        '[{"ts": "2026-11-28T04:00:00.000001Z", "water_level": 1},'
        ' {"ts": "2026-11-28T04:00:00.0000020Z", "water_level": 2}]'
    )
    assert rej == []
    assert [r.time.microsecond for r in ok] == [1, 2]
    ok, rej = decode(
        '[{"ts": "2026-11-28T04:00:00.0000001Z", "water_level": 1},'
        ' {"ts": "2026-11-28T04:00:00.0000002Z", "water_level": 2}]'
    )
    assert ok == []
    assert [(r.code, r.item) for r in rej] == [("invalid", 0), ("invalid", 1)]
    assert "round it to microseconds" in rej[1].reason


@pytest.mark.parametrize("depth", [3000, 20_000])
def test_deep_nesting_is_not_json_not_an_internal_error(depth: int) -> None:
    limits = DecodeLimits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))
    for payload in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        readings, rejections = decode_telemetry(FLOOD_GAUGE, "G1", payload, NOW, limits)
        assert readings == []
        assert [r.code for r in rejections] == ["not_json"]
        assert "nested too deeply" in rejections[0].reason


def test_colons_inside_strings_and_escaped_ones_are_not_duplicate_keys() -> None:
    ok, rej = decode(
        '[{"ts": "2026-11-28T04:00:00+07:00", "water_level": 1},'
        ' {"ts": "2026-11-28T04:00:01\\u002b07\\u003a00", "water_level": 2}]'
    )
    assert rej == []
    assert len(ok) == 2


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
