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
