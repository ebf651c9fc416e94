"""The decoder's fast path for plain valid values gives exactly what the full field check
gives, and everything else still gets the full check's reason; parsed topics are cached
without growing without bound."""

from __future__ import annotations

import json
import random
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


def test_bom_and_utf16_payloads_are_refused_as_not_utf8() -> None:
    kind = builtin_kinds()["flood_gauge"]
    text = json.dumps({"ts": TS, "water_level": 120.5})
    for payload, fragment in (
        (b"\xef\xbb\xbf" + text.encode(), "byte order mark"),
        (text.encode("utf-16"), "looks like UTF-16 or UTF-32"),
        (text.encode("utf-16-le"), "looks like UTF-16 or UTF-32"),
        (text.encode("utf-32"), "looks like UTF-16 or UTF-32"),
        (text.encode("utf-32-be"), "looks like UTF-16 or UTF-32"),
    ):
        readings, rejections = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
        assert readings == []
        assert [r.code for r in rejections] == ["not_json"]
        assert rejections[0].reason.startswith("payload is not UTF-8 JSON: ")
        assert fragment in rejections[0].reason


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
    """decode_json the slow obvious way (stdlib, duplicate keys refused while parsing)."""
    try:
        return "ok", wire._decode_reference(payload)
    except ValueError as exc:
        return "error", str(exc)


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


def _outcome(decode: Any, payload: bytes) -> tuple[str, Any]:
    """What a decode gives, with types (and -0.0 vs 0.0, NaN) told apart through repr."""
    try:
        return "ok", repr(decode(payload))
    except ValueError as exc:
        return "error", str(exc)
    except RecursionError:
        return "error", "RecursionError"


def _stdlib(payload: bytes) -> Any:
    """decode_json without orjson or the colon count, minus the size check."""
    return wire._decode_reference(payload)


def _decode(payload: bytes) -> Any:
    return wire.decode_json(payload, LIMITS)


ODD_PAYLOADS: list[bytes] = [
    # numbers: int vs float, signs, exponents, overflow, 64-bit edges and beyond
    b"0", b"-0", b"-0.0", b"0.0", b"1", b"1.0", b"1e5", b"1E5", b"1e+5", b"1e-5", b"-1e-0",
    b"1.5e0001", b"1e400", b"-1e400", b"[1e400, -1e400]", b"1e-400", b"2.4703282292062327e-324",
    b"1.7976931348623157e308", b"1.7976931348623157e309", b"0.1000000000000000055511151231257827",
    b"123456789012345678901234567890.0", b"9223372036854775807", b"9223372036854775808",
    b"-9223372036854775808", b"-9223372036854775809", b"18446744073709551615",
    b"18446744073709551616", b"-9999999999999999999", b"9999999999999999999",
    b"12345678901234567890123", b'{"ts": 100000000000000000000, "rssi": -80}',
    b'[{"rssi": -18446744073709551617}]', b'{"a": "12345678901234567890"}', b"1" * 400,
    b"01", b"-01", b"1.", b".5", b"+1", b"1e", b"1e+", b"0x10", b"1_000", b"-", b"[-]",
    # constants JSON does not have
    b"NaN", b"-NaN", b"Infinity", b"-Infinity", b'{"a": NaN}', b"[Infinity]", b"nan", b"[TRUE]",
    b"[nul]", b"[true,false,null]",
    # structure
    b"{}", b"[]", b"{} ", b' {"a": 1}', b'{"a": 1}\n', b"\t\n\r[1]\t\n\r", b'{"a": 1}x',
    b'{"a": 1}{"b": 2}', b"[1, 2", b"[", b"{", b"]", b"[1,]", b'{"a":1,}', b"[1 2]", b"{a:1}",
    b"'a'", b"//c\n[1]", b"/*c*/[1]", b"[1]//", b'{"a":1,"b":2,"a":3}', b'{"":0}',
    b'{"a"  :  1 , "b" : [ ] }', b"", b" ", b"x", b"\x00", b"\x00[1]", b"[1]\x00", b"\x0c[1]",
    b"[1]\x0c", b"\xc2\xa0[1]", b"[1]\xa0", b"[" * 600 + b"]" * 600,
    b'[{"a": ' * 300 + b"1" + b"}]" * 300,
    # strings: escapes, control characters, surrogates, invalid and overlong UTF-8
    b'"\\u0000"', b'"\\/"', b'"\\a"', b'"\\x41"', b'"\t"', b'"a\x01"', b'"a\x7f"', b'"\\u00e9"',
    b'"\xc3\xa9"', b'"\xe9"', b'["\xff"]', b'"\\ud800"', b'"\\uDE00\\uD83D"', b'"\\uD83D\\uDE00"',
    b'["\xed\xa0\x80"]', b'"\xf0\x9f\x98\x80"', b'"\xf4\x90\x80\x80"', b'"\xc0\x80"',
    b'{"\\ud800": 1}', b'{"water_level": 1.5, "\xe2\x82\xac": "\xe2\x82\xac"}',
    # duplicate keys (also spelled with escapes), colons in strings, NUL escapes
    b'{"a": 1, "a": 1}', b'[{"a": 1}, {"b": {"c": 1, "c": 2}}]', b'{"a:": 1, "a\\u003a": 2}',
    b'{"a": "x\\u003ay"}', b'{"a": "1:2:3", "b:c": ":"}', b'["a\\u0000b"]', b'{"\\u0000": 1}',
    b'["\\\\u0000"]', b'[{"ts": "2026-11-28T04:00:00Z\\u0000junk"}]',
    # encodings json.loads detects
    b"\xef\xbb\xbf[1]", b'\xef\xbb\xbf{"a": 1}', "[1]".encode("utf-16"),
    "[1]".encode("utf-16-le"), "[1]".encode("utf-16-be"), "[1]".encode("utf-32-le"),
    "[1]".encode("utf-32"), '{"a": "\u00e9"}'.encode("utf-16-le"),
]  # fmt: skip


@pytest.mark.parametrize("payload", ODD_PAYLOADS)
def test_orjson_path_agrees_with_the_stdlib_decode(payload: bytes) -> None:
    assert _outcome(_decode, payload) == _outcome(_stdlib, payload)
    assert _outcome(_decode, payload) == _outcome(_reference_json_value, payload)


def _reference_json_value(payload: bytes) -> Any:
    kind, value = _reference_json(payload)
    if kind == "error":
        raise ValueError(value)
    return value


@pytest.mark.parametrize("depth", [100, 511, 512, 990, 1000, 1024, 1025, 3000])
def test_deep_nesting_decodes_as_the_stdlib_does(depth: int) -> None:
    """The stdlib scanner recurses per level (a RecursionError near 1000 levels, how near
    depending on the stack); orjson parses up to 1024, so deep payloads stay with the stdlib."""

    def outcome(decode: Any, payload: bytes) -> str:  # no repr: it recurses as deep
        try:
            decode(payload)
        except RecursionError:
            return "RecursionError"
        except ValueError as exc:
            return str(exc)
        return "ok"

    for payload in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        assert outcome(_decode, payload) == outcome(_stdlib, payload), depth


_EDGE_STRINGS = [
    "", "a", "PLN", "é", "€", "😀", "\u2028", "\x7f", "\x00", "\x1f", '"', "\\", "/", "\ud800",
    "\udfff", "ts", "\ufeff", "12345678901234567890", "NaN", "1e400",
]  # fmt: skip


def _random_value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(12 if depth < 4 else 8)
    if pick == 0:
        return rng.choice([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1])
    if pick == 1:
        return rng.choice([2**64, -(2**63) - 1, 10**19, -(10**19), 10**30, 7 * 10**400])
    if pick == 2:
        return rng.choice([0.0, -0.0, 0.1, 1e-320, 1.7976931348623157e308, 1e22, 5e-324])
    if pick == 3:
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30)
    if pick == 4:
        return rng.choice([True, False, None])
    if pick in (5, 6):
        return rng.choice(_EDGE_STRINGS) + rng.choice(_EDGE_STRINGS)
    if pick == 7:
        return rng.randint(-(10**12), 10**13)
    if pick in (8, 9):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [rng.choice([*_EDGE_STRINGS, "water_level", "rssi"]) for _ in range(rng.randrange(5))]
    return {k: _random_value(rng, depth + 1) for k in keys}


def _random_text(rng: random.Random, doc: Any) -> str:
    """JSON text for doc, with the stdlib's spellings and some orjson cannot take."""
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, allow_nan=False)
    if rng.random() < 0.3:
        text = text.replace(", ", rng.choice([",", " ,\n\t", ",\r\n"]))
    if rng.random() < 0.1:
        text = text.replace("0", "0e0", 1)
    return text


@pytest.mark.parametrize("seed", range(20))
def test_orjson_path_agrees_on_generated_documents(seed: int) -> None:
    """Seeded random documents (odd numbers and strings, nesting), encoded as UTF-8, UTF-16
    or with a BOM, some truncated or with a byte changed: both decoders agree on each."""
    rng = random.Random(seed)
    for _ in range(250):
        text = _random_text(rng, _random_value(rng, 0))
        encoding = rng.choice(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"])
        payload = text.encode(encoding, "surrogatepass")
        mutate = rng.random()
        if mutate < 0.15 and payload:
            payload = payload[: rng.randrange(len(payload))]
        elif mutate < 0.3 and payload:
            i = rng.randrange(len(payload))
            payload = payload[:i] + bytes([rng.randrange(256)]) + payload[i + 1 :]
        assert _outcome(_decode, payload) == _outcome(_stdlib, payload), payload[:200]


def test_a_plain_backlog_is_parsed_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common payload never reaches the stdlib decoder (which this test removes)."""

    def refuse(payload: bytes) -> Any:
        raise AssertionError("stdlib decoder used")

    kind = builtin_kinds()["flood_gauge"]
    items = [{"ts": TS + i, "water_level": 120.5 + i, "rssi": -80, "power_source": "PLN"}
             for i in range(100)]  # fmt: skip
    payload = json.dumps(items, separators=(",", ":")).encode()
    expected = decode_telemetry(kind, "G1", payload, NOW, LIMITS)
    monkeypatch.setattr(wire, "_decode_stdlib", refuse)
    assert decode_telemetry(kind, "G1", payload, NOW, LIMITS) == expected
    assert len(expected[0]) == 100
    with pytest.raises(AssertionError, match="stdlib decoder used"):
        wire.decode_json(b'{"a": NaN}', LIMITS)
