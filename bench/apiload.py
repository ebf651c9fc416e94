"""API under mixed load: does ``/state`` keep its latency while heavy history queries run?

Generates a fleet (``--devices``, ``--days`` of readings, as ``bench query`` does) in a scratch
database and starts the API as its own process (``uvicorn``, one worker, as deployed), then
drives it from this process with ``--clients`` concurrent clients for ``--seconds`` each phase:

* **baseline**: every client polls ``GET /state`` (the whole fleet, as a wall screen does),
  pausing a random 0 to 2 x ``--think-ms`` between requests, while ``--changes-per-s``
  devices get a new reading every second (as ingest would write them);
* **mixed**: the same, except that 10 % of the clients send heavy history queries back to
  back without pausing: the reported 121 MB query (every aggregate of every street-light
  field in 15-minute buckets over 30 days) and the largest answers the cost limit admits
  (a district's street lights, 1-minute buckets over a day, every aggregate of one field;
  every gauge's hourly water level over 30 days).

It reports ``/state`` p50/p99 in both phases and their ratio, and what the heavy clients got
(answers, refusals naming the fix, 429s with Retry-After). Target: ``/state`` p99 under
250 ms in the mixed phase. Writes ``bench/results/apiload.json``.

    python -m bench apiload                # 2,000 devices, 3 days, 200 clients, 20 s a phase
    python -m bench.apiload --seconds 10   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import FastAPI

from bench._servers import server_url
from bench.query import generate, percentiles, scratch_db
from citysense.local.ports import free_port
from core.kinds import builtin_kinds
from core.storage.batches import write_batch
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.wire import Reading

RESULTS = Path(__file__).parent / "results" / "apiload.json"
TARGET_P99_MS = 250.0
HEAVY_SHARE = 0.10


def app() -> FastAPI:
    """The uvicorn factory of the API process (settings from CITYSENSE_* variables)."""
    from api.app import create_app
    from core.kinds import builtin_kinds
    from core.settings import load_settings

    return create_app(load_settings(), builtin_kinds())


def start_api(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CITYSENSE_DATABASE_URL": url, "CITYSENSE_DB_POOL_MAX": "8"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.apiload:app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API process exited during start")
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the API did not start within 60 s")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def heavy_queries(end: datetime) -> list[dict[str, str]]:
    month, day = (end - timedelta(days=30)).isoformat(), (end - timedelta(days=1)).isoformat()
    return [
        {  # the reported 121 MB query
            "kind": "streetlight",
            "bucket": "15m",
            "from": month,
            "agg": "avg,min,max,last,count",
        },
        {  # close to the cost limit: ~110 lights x 1,440 buckets x 3 aggregates
            "kind": "streetlight",
            "district": "Kecamatan 05",
            "bucket": "1m",
            "from": day,
            "field": "active_power",
            "agg": "avg,min,max",
        },
        {"kind": "flood_gauge", "bucket": "1h", "from": month, "field": "water_level"},
    ]


class Tally:
    def __init__(self) -> None:
        self.state: list[float] = []
        self.state_errors: dict[str, int] = {}
        self.heavy: dict[str, int] = {}
        self.heavy_bytes = 0

    def error(self, key: str) -> None:
        self.state_errors[key] = self.state_errors.get(key, 0) + 1


class Connection:
    """A minimal keep-alive HTTP/1.1 client: with 200 clients, httpx's own CPU cost in this
    process (not the server) would set the latencies measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, int]:
        """Status and body size of ``GET target`` (gzip accepted, body read and dropped)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\nAccept-Encoding: gzip\r\n\r\n".encode()
        )
        reader = self.reader
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        size = 0
        if "content-length" in headers:
            size = int(headers["content-length"])
            await reader.readexactly(size)
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(n + 2)
                size += n
                if n == 0:
                    break
        if headers.get("connection") == "close":
            await self.close()
        return status, size

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def light_client(
    conn: Connection, stop: float, think_s: float, rng: random.Random, t: Tally
) -> None:
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        try:
            status, _ = await conn.get("/state")
            if status == 200:
                t.state.append(time.perf_counter() - t0)
            else:
                t.error(str(status))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            t.error(type(exc).__name__)
            await conn.close()
        await asyncio.sleep(rng.uniform(0, 2 * think_s))
    await conn.close()


async def heavy_client(conn: Connection, stop: float, targets: list[str], n: int, t: Tally) -> None:
    i = n
    while time.monotonic() < stop:
        target = targets[i % len(targets)]
        i += 1
        try:
            status, size = await conn.get(target)
            t.heavy_bytes += size
            key = str(status)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            key = type(exc).__name__
            await conn.close()
        t.heavy[key] = t.heavy.get(key, 0) + 1
        if key == "429":
            await asyncio.sleep(0.05)  # an impatient client: retries long before Retry-After
    await conn.close()


VALUES: dict[str, dict[str, float | int | str]] = {
    "flood_gauge": {"water_level": 160.0, "rain": 0.0},
    "network_node": {"latency": 40.0, "packet_loss": 0.0},
    "streetlight": {"power_state": "on", "active_power": 80.0},
}


async def changes(url: str, stop: float, per_s: int) -> int:
    """What ingest would do meanwhile: ``per_s`` devices get a new reading every second, so
    /state's snapshot really changes (and is re-rendered) each refresh."""
    if per_s <= 0:
        return 0
    kinds = builtin_kinds()
    pool = await create_pool(url, min_size=1, max_size=1)
    written = 0
    try:
        ids = [(r["id"], r["kind"]) for r in await pool.fetch("SELECT id, kind FROM devices")]
        rng = random.Random(7)
        while time.monotonic() < stop:
            now = datetime.now(UTC)
            batch = [
                Reading(d, k, now, dict(VALUES[k]))
                for d, k in rng.sample(ids, min(per_s, len(ids)))
            ]
            await write_batch(pool, kinds, batch, [], now)
            written += len(batch)
            await asyncio.sleep(1.0)
    finally:
        await pool.close()
    return written


async def phase(
    base: str,
    url: str,
    clients: int,
    heavy: int,
    seconds: float,
    think_s: float,
    end: datetime,
    changes_per_s: int,
) -> Tally:
    t = Tally()
    rng = random.Random(13)
    split = urlsplit(base)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    first = Connection(host, port)
    await first.get("/state")  # the first load is not what is measured
    await first.close()
    stop = time.monotonic() + seconds
    targets = ["/readings?" + urlencode(q) for q in heavy_queries(end)]
    jobs = [heavy_client(Connection(host, port), stop, targets, i, t) for i in range(heavy)]
    jobs += [
        light_client(Connection(host, port), stop, think_s, rng, t) for _ in range(clients - heavy)
    ]
    await asyncio.gather(*jobs)
    return t


def summary(t: Tally, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "state": percentiles(t.state) if len(t.state) > 1 else {"n": len(t.state)},
        "state_within_target_share": round(
            sum(x * 1000 < TARGET_P99_MS for x in t.state) / max(1, len(t.state)), 4
        ),
        "state_per_s": round(len(t.state) / seconds, 1),
        "state_errors": t.state_errors,
    }
    if t.heavy:
        out["heavy"] = {"answers_by_status": t.heavy, "bytes": t.heavy_bytes}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.apiload", description=__doc__)
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--think-ms", type=float, default=500.0, help="mean pause of /state clients")
    p.add_argument(
        "--changes-per-s", type=int, default=200, help="devices given a new reading each second"
    )
    args = p.parse_args(argv if argv is not None else [])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    heavy = max(1, round(args.clients * HEAVY_SHARE))
    load_before = os.getloadavg()  # other work on the machine skews every latency here
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with server_url("postgresql") as server, scratch_db(server) as url:
        migrate(url, retention_days=730)
        print(f"  generating {args.devices} devices x {args.days} days ...", flush=True)
        data = generate(url, args.devices, args.days, end)
        proc, base = start_api(url)
        try:
            think = args.think_ms / 1000
            common = (args.seconds, think, end, args.changes_per_s)
            cpu0 = cpu_s(proc.pid)
            base_t = asyncio.run(phase(base, url, args.clients, 0, *common))
            cpu1 = cpu_s(proc.pid)
            mixed_t = asyncio.run(phase(base, url, args.clients, heavy, *common))
            cpu2 = cpu_s(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    baseline, mixed = summary(base_t, args.seconds), summary(mixed_t, args.seconds)
    baseline["api_cpu_s"], mixed["api_cpu_s"] = round(cpu1 - cpu0, 2), round(cpu2 - cpu1, 2)
    p99_base = baseline["state"].get("p99_ms", float("nan"))
    p99_mixed = mixed["state"].get("p99_ms", float("nan"))
    report = {
        "benchmark": "apiload",
        "measured_at": datetime.now(UTC).isoformat(),
        "data": data,
        "clients": args.clients,
        "heavy_clients": heavy,
        "seconds_per_phase": args.seconds,
        "think_ms": args.think_ms,
        "changes_per_s": args.changes_per_s,
        "baseline_state_only": baseline,
        "mixed_with_heavy": mixed,
        "state_p99_mixed_vs_baseline": round(p99_mixed / p99_base, 2),
        "target_state_p99_ms": TARGET_P99_MS,
        "meets_target": p99_mixed < TARGET_P99_MS and not mixed["state_errors"],
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before},
    }
    print(
        f"  load average {load_before[0]:.1f};"
        f" /state baseline p50 {baseline['state'].get('p50_ms')} ms p99 {p99_base} ms"
        f" ({baseline['state_per_s']}/s) | with {heavy} heavy clients p50"
        f" {mixed['state'].get('p50_ms')} ms p99 {p99_mixed} ms ({mixed['state_per_s']}/s),"
        f" ratio {report['state_p99_mixed_vs_baseline']}; errors {mixed['state_errors']};"
        f" heavy {mixed.get('heavy')}; API CPU {baseline['api_cpu_s']} s then"
        f" {mixed['api_cpu_s']} s; target p99 < {TARGET_P99_MS:.0f} ms:"
        f" {'met' if report['meets_target'] else 'NOT met'}",
        flush=True,
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
