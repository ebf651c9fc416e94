"""The compiled decode (core/wire_typed.py) changes nothing a sender sees: on generated
telemetry (valid and not: wrong types, values out of range, unknown and repeated keys,
escapes, odd times, bad JSON) ``decode_telemetry`` gives the same readings (values in the
payload's order, with their types) and the same rejection reasons as its own path alone;
and plainly valid payloads do take the compiled pass."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import wire
from core.kinds import DeviceKind, FieldType, builtin_kinds
from core.wire import DecodeLimits, decode_telemetry

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
LIMITS = DecodeLimits(max_future=timedelta(minutes=5), max_age=timedelta(days=30))
TS = int((NOW - timedelta(hours=1)).timestamp() * 1000)
KINDS = builtin_kinds()

ODD_VALUES: list[Any] = [
    0, 1, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 0.0, -0.0, 1e300, 1e-320, 12.0, 12.5,
    True, False, None, "", "PLN", "PLTS", "on", "off", "x:y", [1], {"a": 1},
]  # fmt: skip
ODD_TS: list[Any] = [
    TS, TS + 1, 0, -1, 10**20, TS + 10**9, TS - 40 * 86_400_000, float(TS), str(TS), True, None,
    "2026-12-07T00:30:00Z", "2026-12-07T07:30:00+07:00", "2026-12-07 00:30", "yesterday",
    "2026-12-07T00:30:00.1234567Z", "2026-12-07T08:30:00+07:00",
]  # fmt: skip


def _value(rng: random.Random, kind: DeviceKind, name: str) -> Any:
    f = kind.field(name)
    assert f is not None
    if rng.random() < 0.25:
        return rng.choice(ODD_VALUES)
    if f.type is FieldType.ENUM:
        return rng.choice(f.choices)
    if f.type is FieldType.BOOL:
        return rng.random() < 0.5
    lo, hi = f.valid or (-1e6, 1e6)
    if f.type is FieldType.INT:
        return rng.randint(int(lo), int(hi))
    return round(rng.uniform(lo, hi), rng.randint(0, 4))


def _item(rng: random.Random, kind: DeviceKind) -> str:
    names = [f.name for f in kind.fields]
    pairs: list[tuple[str, Any]] = []
    if rng.random() > 0.05:
        pairs.append(
            ("ts", TS + rng.randint(0, 10**6) if rng.random() < 0.7 else rng.choice(ODD_TS))
        )
    for name in rng.sample(names, rng.randint(0, len(names))):
        pairs.append((name, _value(rng, kind, name)))
    if rng.random() < 0.05:
        pairs.append((rng.choice(["zzz", "Water_level", "ts", "a:b"]), 1))  # unknown or repeated
    if rng.random() < 0.05 and pairs:
        pairs.append(rng.choice(pairs))  # a key twice
    rng.shuffle(pairs)
    parts = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs]
    text = "{" + rng.choice([",", ", "]).join(parts) + "}"
    if rng.random() < 0.03:
        text = text.replace('"ts"', '"t\\u0073"', 1)  # a key spelled with an escape
    if rng.random() < 0.02:
        text = text.replace(":", "\\u003a", 1)
    return text


def _payload(rng: random.Random, kind: DeviceKind) -> bytes:
    n = rng.choice([1, 1, 2, 5, 30])
    items = [_item(rng, kind) for _ in range(n)]
    text = items[0] if n == 1 and rng.random() < 0.5 else "[" + ",".join(items) + "]"
    data = text.encode()
    if rng.random() < 0.05 and data:
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    elif rng.random() < 0.03:
        data = data[: rng.randrange(len(data) + 1)]
    return data


def _outcome(kind: DeviceKind, payload: bytes) -> str:
    readings, rejections = decode_telemetry(kind, "D-1", payload, NOW, LIMITS)
    return repr(([(r.time, list(r.values.items())) for r in readings], rejections))


@pytest.mark.parametrize("kind_name", sorted(KINDS))
@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_pass_gives_what_the_decoders_own_path_gives(
    kind_name: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = KINDS[kind_name]
    rng = random.Random(f"{kind_name}-{seed}")
    payloads = [_payload(rng, kind) for _ in range(300)]
    typed = sum(wire._typed(kind, p, LIMITS) is not None for p in payloads)
    with_typed = [_outcome(kind, p) for p in payloads]
    monkeypatch.setattr(wire, "_typed", lambda *a: None)
    assert [_outcome(kind, p) for p in payloads] == with_typed
    assert typed > 20, "plainly valid payloads take the compiled pass"
    assert typed < len(payloads) - 20, "the rest is decided by the decoder's own path"


def test_a_plain_backlog_is_checked_without_the_python_field_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind = KINDS["flood_gauge"]
    items = [
        {"ts": TS + i, "rain": 1, "water_level": 120.5 + i, "rssi": -80, "power_source": "PLN"}
        for i in range(100)
    ]
    payload = json.dumps(items).encode()
    expected = decode_telemetry(kind, "G1", payload, NOW, LIMITS)

    def refuse(*args: object) -> None:
        raise AssertionError("checked in Python")

    monkeypatch.setattr(wire, "_check_values", refuse)
    assert decode_telemetry(kind, "G1", payload, NOW, LIMITS) == expected
    assert list(expected[0][0].values.items())[:2] == [("rain", 1.0), ("water_level", 120.5)]
    with pytest.raises(AssertionError, match="checked in Python"):  # out of range: Python decides
        decode_telemetry(kind, "G1", b'{"ts": %d, "rain": 501}' % TS, NOW, LIMITS)


@pytest.mark.parametrize(
    "payload",
    [
        # an escaped colon in a string stands in for the colon of a dropped unknown key
        b'{"ts": "2026-12-07T00\\u003a30:00Z", "zzz": 1}',
        b'{"ts": %d, "rain": 1, "rain": 2}' % TS,  # repeated: msgspec keeps the last
        b'{"ts": %d, "rain": 1, "Rain": 2}' % TS,  # unknown: msgspec drops it
        b'{"ts": %d, "r\\u0061in": 1}' % TS,
        b'{"ts": %d}' % TS,
        b"[]",
        b'[{"ts": %d, "rain": 1}, 5]' % TS,
        b'{"ts": "2026-12-07T00:30:00Z\\u0000", "rain": 1}',
        b'{"ts": %d, "rssi": -80.0, "rain": 0}' % TS,
        b'{"ts": %d, "water_level": 3000.0000000000005}' % TS,
        b"[" * 3000 + b"]" * 3000,
    ],
)
def test_payloads_the_compiled_pass_must_leave_alone(
    payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = KINDS["flood_gauge"]
    got = _outcome(kind, payload)
    monkeypatch.setattr(wire, "_typed", lambda *a: None)
    assert got == _outcome(kind, payload)
