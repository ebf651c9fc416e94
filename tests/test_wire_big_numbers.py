"""Whole numbers the columns cannot hold get a reason the sender can act on.

An INT field is a ``bigint`` column: where a kind declares no narrower range, a value past
64 bits used to pass the decoder and fail the batch's COPY (and a kind with such a field
made every message of it an "internal" dead letter, as the compiled decoder could not be
built). A whole number of hundreds of digits in a FLOAT field raised ``OverflowError``,
also an "internal" dead letter. Both are rejections now, worded, and the values just inside
64 bits are stored. A number of thousands of digits, which the JSON parser itself refuses,
gets a reason without the interpreter's advice to raise its limit.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from core.kinds import INT64_MAX, INT64_MIN, DeviceKind, FieldType, TelemetryField, builtin_kinds
from core.storage.readings import copy_encoder
from core.wire import DecodeLimits, decode_telemetry

COUNTER = DeviceKind(
    "counter",
    "Counter",
    (TelemetryField("pulses", FieldType.INT), TelemetryField("level", FieldType.FLOAT)),
)
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)


def _decode(kind: DeviceKind, body: bytes) -> tuple[list[object], list[tuple[str, str]]]:
    readings, rejections = decode_telemetry(kind, "D-1", body, NOW, DecodeLimits())
    return [r.values for r in readings], [(r.code, r.reason) for r in rejections]


@pytest.mark.parametrize("value", [INT64_MIN, -1, 0, INT64_MAX])
def test_a_64_bit_whole_number_in_an_int_field_without_a_range_is_stored(value: int) -> None:
    readings, rejections = decode_telemetry(
        COUNTER, "D-1", b'{"ts":%d,"pulses":%d}' % (MS, value), NOW, DecodeLimits()
    )
    assert rejections == []
    assert [r.values for r in readings] == [{"pulses": value}]
    assert copy_encoder(COUNTER).encode(readings, NOW)  # the COPY row can be built


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"ts":%d,"pulses":%d}' % (MS, INT64_MAX + 1),
            f"pulses=9223372036854775808 does not fit a 64-bit whole number"
            f" ({INT64_MIN}..{INT64_MAX})",
        ),
        (
            b'[{"ts":%d,"pulses":1},{"ts":%d,"pulses":%d}]' % (MS, MS + 1, INT64_MIN - 1),
            f"item 1: pulses=-9223372036854775809 does not fit a 64-bit whole number"
            f" ({INT64_MIN}..{INT64_MAX})",
        ),
        (
            b'{"ts":%d,"pulses":1%s}' % (MS, b"0" * 400),
            "pulses is a whole number of 401 digits, which does not fit a 64-bit whole"
            f" number ({INT64_MIN}..{INT64_MAX})",
        ),
        (
            b'{"ts":%d,"level":1%s}' % (MS, b"0" * 400),
            "level is a whole number of 401 digits, too large to be a number",
        ),
    ],
)
def test_a_number_the_column_cannot_hold_is_rejected_with_the_reason(
    body: bytes, reason: str
) -> None:
    values, rejections = _decode(COUNTER, body)
    assert rejections == [("invalid", reason)]
    assert values == ([{"pulses": 1}] if body.startswith(b"[") else [])


def test_a_huge_whole_number_in_a_builtin_float_field_is_rejected_not_an_internal_error() -> None:
    gauge = builtin_kinds()["flood_gauge"]
    values, rejections = _decode(gauge, b'{"ts":%d,"water_level":9%s}' % (MS, b"9" * 350))
    assert values == []
    assert rejections == [
        ("invalid", "water_level is a whole number of 351 digits, too large to be a number")
    ]


@pytest.mark.parametrize("field", [b"pulses", b"level"])
def test_a_number_of_thousands_of_digits_is_refused_with_the_limit(field: bytes) -> None:
    values, rejections = _decode(COUNTER, b'{"ts":%d,"%s":%s}' % (MS, field, b"7" * 5000))
    assert values == []
    assert rejections == [
        (
            "not_json",
            f"payload has a number of more than {sys.get_int_max_str_digits()} digits;"
            " send numbers that fit 64 bits",
        )
    ]
