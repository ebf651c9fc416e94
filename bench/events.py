"""Batch events micro-benchmark: CPU to build a batch's rollup marks and live-stream/alerts
notifications, announcing every reading against announcing what the live picture needs
(``core.storage.events.live_readings``), in the same run.

Batches as ingest builds them: a backlog batch of network nodes and one of flood gauges
(200 messages of 100 readings, random values as the load generator makes them, one
millisecond apart; every gauge reading is announced, its water level being judged reading
by reading), a live batch (5,000 gauges, one reading each) and a fast live batch
(1,000 gauges, five readings each in turn, as the single-reading phase at 30,000/s makes).
Prints CPU ms per 1,000 readings (best of ``repeat``) and the ratio; writes
bench/results/events.json.

    python -m bench events
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from core.kinds import builtin_kinds
from core.storage.events import batch_events, live_readings
from core.wire import Reading
from simulators.load import value_fragments

RESULTS = Path(__file__).parent / "results" / "events.json"
KINDS = builtin_kinds()


def _batch(
    devices: int, per_device: int, seed: int = 1, kind: str = "flood_gauge"
) -> list[Reading]:
    rng = random.Random(seed)
    frags = [json.loads(b"{" + f + b"}") for f in value_fragments(KINDS[kind], rng)]
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for d in range(devices):
        start = now - timedelta(seconds=60 + d)
        for j in range(per_device):
            values = dict(frags[(d * per_device + j) % len(frags)])
            out.append(Reading(f"B-{d:06d}", kind, start + timedelta(milliseconds=j), values))
    return out


def _interleaved(devices: int, per_device: int) -> list[Reading]:
    """As the ingest benchmark's single-reading phase batches them: devices in turn."""
    rows = _batch(devices, per_device)
    return [rows[d * per_device + j] for j in range(per_device) for d in range(devices)]


def _cpu_ms_per_1k(fn: Callable[[], Any], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    repeat = 7
    received = datetime.now(UTC)
    results: dict[str, Any] = {"benchmark": "events", "repeat": repeat}
    for name, readings in (
        ("node backlog: 200 messages x 100", _batch(200, 100, kind="network_node")),
        ("gauge backlog: 200 messages x 100", _batch(200, 100)),
        ("live: 5,000 devices x 1 reading", _batch(5000, 1)),
        ("fast live: 1,000 devices x 5 readings", _interleaved(1000, 5)),
    ):
        n = len(readings)
        every = _cpu_ms_per_1k(partial(batch_events, readings, received), n, repeat)
        live = _cpu_ms_per_1k(partial(batch_events, readings, received, KINDS), n, repeat)
        kept = len(live_readings(readings, KINDS).readings)
        results[name] = {
            "readings": n,
            "announced": kept,
            "every_reading_cpu_ms_per_1k": round(every, 2),
            "live_readings_cpu_ms_per_1k": round(live, 2),
            "ratio": round(live / every, 3),
        }
        print(
            f"{name:<40} announce all {every:6.2f} ms/1k, live picture {live:6.2f} ms/1k"
            f" ({live / every:.2f}x; {kept:,} of {n:,} readings announced)",
            flush=True,
        )
    results["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
