"""The binary COPY encoder gives what PostgreSQL itself gives: readings stored the reference
way (INSERT through asyncpg's codecs) and exported with ``COPY .. TO STDOUT (FORMAT
binary)`` are byte for byte what :class:`CopyEncoder` builds for them, and its data copied
back in stores the same rows. Every built-in kind, fields missing and ``None``, odd device
ids, times before 2000 and in other zones, integers at the 64-bit edges."""

from __future__ import annotations

import io
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from core.kinds import DeviceKind, FieldType, TelemetryField, builtin_kinds
from core.storage.copy_binary import CopyEncoder
from core.storage.ddl import SQL_TYPES
from core.wire import Reading, Value

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
WIB = timezone(timedelta(hours=7))
ODD = DeviceKind(
    "odd_kind",
    "Odd",
    (
        TelemetryField("flag", FieldType.BOOL),
        TelemetryField("count", FieldType.INT),
        TelemetryField("mode", FieldType.ENUM, choices=("a", "bé", "")),
        TelemetryField("x", FieldType.FLOAT),
        TelemetryField("y", FieldType.FLOAT),
    ),
)
ONE = DeviceKind("one_field", "One", (TelemetryField("level", FieldType.FLOAT),))


def _value(rng: random.Random, f: TelemetryField) -> Value | None:
    roll = rng.random()
    if roll < 0.08:
        return None
    if f.type is FieldType.BOOL:
        return rng.random() < 0.5
    if f.type is FieldType.ENUM:
        return rng.choice(f.choices)
    if f.type is FieldType.INT:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-(10**12), 10**12)])
    return rng.choice([0.0, -0.0, 1e-300, -1.7976931348623157e308, rng.uniform(-1e6, 1e6), 3])


def _readings(kind: DeviceKind, rng: random.Random, n: int) -> list[Reading]:
    ids = ["AWLR-01", "é€😀 id", "x" * 300, "LAMP-7", ""]
    out = []
    for i in range(n):
        values: dict[str, Value] = {}
        for f in kind.fields:
            if rng.random() < 0.1:
                continue  # the field is missing
            v = _value(rng, f)
            values[f.name] = v  # type: ignore[assignment]  # None too: it must become NULL
        at = T0 + timedelta(microseconds=rng.randint(-(10**15), 10**13))  # 1994 .. 2027
        if i % 7 == 0:
            at = at.astimezone(WIB)
        out.append(Reading(f"{rng.choice(ids)}-{i}", kind.name, at, values))
    return out


async def _table(conn: Any, kind: DeviceKind) -> str:
    cols = ", ".join(f'"{f.name}" {SQL_TYPES[f.type]}' for f in kind.fields)
    name = f"copy_{kind.name}"
    await conn.execute(
        f"CREATE TEMP TABLE {name} (device_id text, time timestamptz,"
        f" received_at timestamptz, {cols})"
    )
    return name


async def _export(conn: Any, table: str, columns: list[str]) -> bytes:
    out = io.BytesIO()
    cols = ", ".join(f'"{c}"' for c in columns)
    await conn.copy_from_query(
        f"SELECT {cols} FROM {table} ORDER BY device_id, time", output=out, format="binary"
    )
    return out.getvalue()


@pytest.mark.parametrize("kind", [*builtin_kinds().values(), ODD, ONE], ids=lambda k: k.name)
async def test_encoded_copy_is_what_the_server_exports(
    pool: asyncpg.Pool, kind: DeviceKind
) -> None:
    rng = random.Random(kind.name)
    readings = sorted(_readings(kind, rng, 400), key=lambda r: (r.device_id, r.time))
    encoder = CopyEncoder(kind)
    received = T0.astimezone(WIB)
    async with pool.acquire() as conn, conn.transaction():
        table = await _table(conn, kind)
        rows = [
            (r.device_id, r.time, received, *(r.values.get(f.name) for f in kind.fields))
            for r in readings
        ]
        columns = ", ".join(f'"{c}"' for c in encoder.columns)
        params = ", ".join(f"${i + 1}" for i in range(len(encoder.columns)))
        await conn.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({params})",
            rows,
        )
        exported = await _export(conn, table, encoder.columns)
        assert encoder.encode(readings, received) == exported
        # The same bytes a second time (device ids now cached), and copied back in.
        data = encoder.encode(readings, received)
        assert data == exported
        await conn.execute(f"TRUNCATE {table}")
        await conn.copy_to_table(
            table,
            source=memoryview(data),  # type: ignore[arg-type]
            columns=encoder.columns,
            format="binary",
        )
        assert await _export(conn, table, encoder.columns) == exported


def test_a_value_the_columns_cannot_hold_is_an_error_not_a_wrong_row() -> None:
    encoder = CopyEncoder(ODD)
    with pytest.raises((struct.error, OverflowError)):
        encoder.encode([Reading("D", "odd_kind", T0, {"count": 2**64})], T0)
