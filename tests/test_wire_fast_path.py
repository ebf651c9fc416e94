"""The decoder's fast path for plain valid values gives exactly what the full field check
gives, and everything else still gets the full check's reason; parsed topics are cached
without growing without bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import wire
from core.kinds import builtin_kinds
from core.wire import DecodeLimits, Topics, decode_telemetry

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
LIMITS = DecodeLimits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))
TS = int((NOW - timedelta(minutes=1)).timestamp() * 1000)

CANDIDATES: list[Any] = [
    0, 1, -80, 12, 3.5, -0.0, 100.0, 250.25, 99999, -99999.5, 1e300, 10**400, True, False,
    "PLN", "PLTS", "diesel", "", None, [1], {"a": 1},
]  # fmt: skip


def _reference(kind_name: str, name: str, raw: Any) -> tuple[str, Any]:
    try:
        value = wire._check_value(builtin_kinds()[kind_name], name, raw)
    except wire._InvalidError as exc:
        return "invalid", str(exc)
    except Exception as exc:
        return "error", type(exc).__name__
    return "ok", (type(value), value)


@pytest.mark.parametrize("kind_name", sorted(builtin_kinds()))
def test_fast_path_agrees_with_the_full_check(kind_name: str) -> None:
    kind = builtin_kinds()[kind_name]
    for f in kind.fields:
        for raw in CANDIDATES:
            payload = json.dumps({"ts": TS, f.name: raw}).encode()
            try:
                readings, rejections = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
            except Exception as exc:
                got: tuple[str, Any] = ("error", type(exc).__name__)
            else:
                if readings:
                    v = readings[0].values[f.name]
                    got = ("ok", (type(v), v))
                else:
                    got = ("invalid", rejections[0].reason)
            assert got == _reference(kind_name, f.name, raw), (f.name, raw)


def test_infinity_from_a_huge_literal_is_rejected() -> None:
    kind = builtin_kinds()["flood_gauge"]
    payload = b'{"ts": %d, "water_level": 1e400}' % TS
    readings, rejections = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
    assert readings == []
    assert "water_level must be finite" in rejections[0].reason


def test_bom_and_utf16_payloads_decode_as_json_loads_does() -> None:
    kind = builtin_kinds()["flood_gauge"]
    text = json.dumps({"ts": TS, "water_level": 120.5})
    for payload in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        readings, rejections = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
        assert rejections == []
        assert readings[0].values == {"water_level": 120.5}
        assert json.loads(payload) == {"ts": TS, "water_level": 120.5}


def test_parsed_topics_are_cached_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "_PARSED_MAX", 10)
    t = Topics("citysense/v1")
    first = t.parse("citysense/v1/flood_gauge/G1/telemetry")
    assert first is not None
    assert first.device_id == "G1"
    assert t.parse("citysense/v1/flood_gauge/G1/telemetry") is first
    for i in range(50):
        parts = t.parse(f"citysense/v1/flood_gauge/G{i}/status")
        assert parts is not None
        assert (parts.device_id, parts.channel) == (f"G{i}", "status")
        assert t.parse(f"citysense/v1/flood_gauge/bad id {i}/telemetry") is None
    assert len(t._parsed) <= 10


def _reference_time_check(raw: Any, now: datetime, limits: DecodeLimits) -> tuple[str, str]:
    """The full time checks, as decode_telemetry applied them before the epoch-ms window."""
    try:
        ts = wire.parse_timestamp(raw)
    except wire._InvalidError as exc:
        return "invalid", str(exc)
    if ts > now + limits.max_future:
        return "future", ts.isoformat()
    if ts < now - limits.max_age:
        return "too_old", ts.isoformat()
    return "ok", ts.isoformat()


@pytest.mark.parametrize("micros", [0, 1, 499, 500, 999_999])
def test_epoch_ms_window_agrees_with_the_full_time_checks(micros: int) -> None:
    """Epoch-ms ts inside the precomputed window skip the datetime checks; at and around
    both edges (a clock with sub-millisecond digits included) the outcome is the same."""
    kind = builtin_kinds()["flood_gauge"]
    now = datetime(2026, 11, 28, 5, 0, 0, micros, tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    edges = [
        (now + LIMITS.max_future - epoch) // timedelta(milliseconds=1),
        (now - LIMITS.max_age - epoch) // timedelta(milliseconds=1),
        946_684_800_000,
        4_102_444_800_000,
    ]
    wide = DecodeLimits(max_future=timedelta(days=365 * 100), max_age=timedelta(days=365 * 100))
    for limits in (LIMITS, wide):
        for edge in edges:
            for raw in range(edge - 2, edge + 3):
                payload = b'{"ts": %d, "water_level": 1.5}' % raw
                readings, rejections = decode_telemetry(kind, "G1", payload, now, limits)
                if readings:
                    got = ("ok", readings[0].time.isoformat())
                    assert readings[0].time.tzinfo is UTC
                else:
                    code = rejections[0].code
                    got = (code, rejections[0].reason.split("ts ", 1)[-1].split(" ")[0])
                    if code == "invalid":
                        got = (code, rejections[0].reason)
                assert got == _reference_time_check(raw, now, limits), (raw, limits)


def test_values_are_the_decoded_object_without_ts_in_payload_order() -> None:
    kind = builtin_kinds()["flood_gauge"]
    payload = b'[{"rain": 2, "ts": %d, "water_level": 1.5}, {"ts": %d, "rssi": -80.0}]' % (
        TS,
        TS + 1,
    )
    readings, rejections = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
    assert rejections == []
    assert [list(r.values.items()) for r in readings] == [
        [("rain", 2.0), ("water_level", 1.5)],
        [("rssi", -80)],
    ]
    assert type(readings[0].values["rain"]) is float
    assert type(readings[1].values["rssi"]) is int


def _reference_json(payload: bytes) -> tuple[str, Any]:
    """decode_json before its direct-scan fast path."""
    try:
        text = payload.decode(json.detect_encoding(payload), "surrogatepass")
        return "ok", wire._DECODER.decode(text)
    except wire._InvalidError as exc:
        return "error", str(exc)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return "error", f"payload is not UTF-8 JSON: {exc}"[:300]


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        b"[]",
        b"{} ",
        b' {"a": 1}',
        b'{"a": 1}\n',
        b'{"a": 1}x',
        b'{"a": 1}{"b": 2}',
        b"[1, 2",
        b"[",
        b"{",
        b'{"a": NaN}',
        b'["\xff"]',
        b'["\xed\xa0\x80"]',
        b"",
        b"x",
        "[1]".encode("utf-16-le"),
        "[1]".encode("utf-32-le"),
        b"\xef\xbb\xbf[1]",
    ],
)
def test_json_fast_path_agrees_with_the_full_decode(payload: bytes) -> None:
    try:
        got: tuple[str, Any] = ("ok", wire.decode_json(payload, LIMITS))
    except ValueError as exc:
        got = ("error", str(exc))
    assert got == _reference_json(payload)
