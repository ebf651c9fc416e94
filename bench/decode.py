"""Telemetry decode micro-benchmark: ``core.wire.decode_telemetry`` as ingest runs it (the
compiled msgspec pass of core/wire_typed.py for plainly valid payloads) against its own
path alone (orjson, then the field checks in Python; what every payload took before the
compiled pass, and what a refused one still takes), in the same run, on valid payloads
(backlogs of 100 flood-gauge readings, and single readings).

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
from typing import Any

from core import wire
from core.kinds import builtin_kinds
from core.wire import DecodeLimits, decode_telemetry
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
    results: dict[str, Any] = {"benchmark": "decode", "repeat": repeat}
    for name, k, messages in (("backlog x100", 100, 200), ("single", 1, 20_000)):
        payloads = _payloads(k, messages)
        n = k * messages

        def decode(p: list[bytes] = payloads) -> None:
            now = datetime.now(UTC)
            for b in p:
                readings, rejections = decode_telemetry(KIND, "D-1", b, now, limits)
                assert readings
                assert not rejections

        row: dict[str, Any] = {
            "readings": n,
            "compiled_pass_cpu_ms_per_1k": round(_cpu_ms_per_1k(decode, n, repeat), 2),
        }
        typed = wire._typed
        wire._typed = lambda *a: None  # the own path alone
        try:
            row["own_path_cpu_ms_per_1k"] = round(_cpu_ms_per_1k(decode, n, repeat), 2)
        finally:
            wire._typed = typed
        row["compiled_vs_own_path"] = round(
            row["compiled_pass_cpu_ms_per_1k"] / row["own_path_cpu_ms_per_1k"], 3
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
