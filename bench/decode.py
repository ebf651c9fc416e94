"""Telemetry decode micro-benchmark: today's decoder (orjson + in-place checks,
``core.wire.decode_telemetry``) against msgspec's typed decoding, in the same run.

The msgspec candidate is what a switch could at best be: a ``Struct`` per kind derived from
the declaration (each field optional, its JSON type, the valid range as ``Meta(ge, le)``,
enums as ``Literal``, unknown fields refused, ``ts`` as int or string), decoded with
``msgspec.json.Decoder(list[Struct] | Struct)``, then turned into what ingest needs (a
``Reading``: the values as a dict of the fields sent, the time as a UTC datetime), with the
checks a switch would still need on valid payloads: ``ts`` as epoch ms inside the accepted
window, at least one field, no repeated key (msgspec keeps the last one). Measured on valid
payloads only: anything msgspec refuses would go through today's decoder, to keep every
rejection reason word for word (tests/test_wire.py, tests/test_wire_fast_path.py).

Not switched: a ``Struct`` gives the values in declaration order, and ingest keeps them in
the order the device sent them (pinned by
``test_values_are_the_decoded_object_without_ts_in_payload_order``; the live stream shows
them so); decoding to dicts instead keeps the order but leaves the checks in Python, which
is what orjson + ``_check_values`` already do. Needs ``pip install msgspec`` (not a
dependency); without it the run says so and measures today's decoder alone.

    python -m bench decode
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from core.kinds import DeviceKind, FieldType, builtin_kinds
from core.wire import DecodeLimits, Reading, decode_telemetry
from simulators.load import value_fragments

RESULTS = Path(__file__).parent / "results" / "decode.json"
KIND = builtin_kinds()["flood_gauge"]


def _payloads(k: int, messages: int) -> list[bytes]:
    frags = value_fragments(KIND, random.Random(1))
    now_ms = int(time.time() * 1000) - 10_000_000
    out = []
    for m in range(messages):
        items = [
            b'{"ts":%d,%s}' % (now_ms + m * k + j, frags[(m * k + j) % len(frags)])
            for j in range(k)
        ]
        out.append(items[0] if k == 1 else b"[" + b",".join(items) + b"]")
    return out


def _msgspec_decoder(
    kind: DeviceKind, lo_ms: int, hi_ms: int
) -> Callable[[bytes], list[Reading] | None]:
    import msgspec

    annotations: dict[str, Any] = {"ts": int | str}
    for f in kind.fields:
        lo, hi = f.valid if f.valid is not None else (None, None)
        base: Any
        if f.type is FieldType.FLOAT:
            base = float
        elif f.type is FieldType.INT:
            base = int
        elif f.type is FieldType.BOOL:
            base = bool
        else:
            base = Literal[f.choices]
        if lo is not None and f.type in (FieldType.FLOAT, FieldType.INT):
            base = Annotated[base, msgspec.Meta(ge=lo, le=hi)]
        annotations[f.name] = base | msgspec.UnsetType
    struct = msgspec.defstruct(
        f"{kind.name}_item",
        [("ts", annotations.pop("ts"))] + [(n, t, msgspec.UNSET) for n, t in annotations.items()],
        forbid_unknown_fields=True,
        omit_defaults=True,
    )
    decoder = msgspec.json.Decoder(list[struct] | struct)  # type: ignore[valid-type]
    names = [f.name for f in kind.fields]
    unset = msgspec.UNSET
    from_epoch = datetime.fromtimestamp

    def decode(payload: bytes) -> list[Reading] | None:
        """The readings, or None where today's decoder must decide (and say why)."""
        try:
            doc = decoder.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        items = doc if isinstance(doc, list) else [doc]
        out = []
        keys = 0
        for it in items:
            values = {n: v for n in names if (v := getattr(it, n)) is not unset}
            ts = it.ts
            if not values or type(ts) is not int or not lo_ms <= ts <= hi_ms:
                return None
            keys += len(values) + 1
            out.append(Reading("D-1", kind.name, from_epoch(ts / 1000, UTC), values))
        # a repeated key: msgspec keeps the last, today's decoder refuses the message
        if payload.count(b'":') != keys:
            return None
        return out

    return decode


def _cpu_ms_per_1k(fn: Callable[[], Any], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    limits = DecodeLimits()
    repeat = 7
    try:
        now_ms = int(time.time() * 1000)
        candidate = _msgspec_decoder(KIND, now_ms - 10**11, now_ms + 300_000)
    except ImportError:
        candidate = None
        print("msgspec is not installed: today's decoder only", flush=True)
    results: dict[str, Any] = {"benchmark": "decode", "repeat": repeat}
    for name, k, messages in (("backlog x100", 100, 200), ("single", 1, 20_000)):
        payloads = _payloads(k, messages)
        n = k * messages

        def today(p: list[bytes] = payloads) -> None:
            now = datetime.now(UTC)
            for b in p:
                readings, rejections = decode_telemetry(KIND, "D-1", b, now, limits)
                assert readings
                assert not rejections

        row: dict[str, Any] = {
            "readings": n,
            "today_cpu_ms_per_1k": round(_cpu_ms_per_1k(today, n, repeat), 2),
        }
        if candidate is not None:

            def msgspec_typed(
                p: list[bytes] = payloads,
                dec: Callable[[bytes], list[Reading] | None] = candidate,
            ) -> None:
                for b in p:
                    assert dec(b)

            row["msgspec_cpu_ms_per_1k"] = round(_cpu_ms_per_1k(msgspec_typed, n, repeat), 2)
            row["msgspec_vs_today"] = round(
                row["msgspec_cpu_ms_per_1k"] / row["today_cpu_ms_per_1k"], 3
            )
        results[name] = row
        print(f"{name:<14} {json.dumps(row)}", flush=True)
    results["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
