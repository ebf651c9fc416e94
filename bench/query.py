"""Query benchmark: the operations room's reads on a full-size fleet, API vs raw table,
on both storage paths (plain PostgreSQL and TimescaleDB) in one run.

Generates ``--devices`` devices (5 % flood gauges, 15 % network nodes, 80 % street lights in
22 districts) and ``--days`` of readings with ``generate_series`` into a scratch database,
with every device's current hour marked dirty (as live traffic leaves it), plus one reading
a day for ``--old-days`` before that for one device of each kind (so
TimescaleDB holds that many more daily chunks: alert evaluation must not slow down with
them), then times, through the HTTP API and as the equivalent query on the raw readings tables:

* the latest state of every device  (``GET /state`` vs newest row per device by index);
* 24 h of 1-minute buckets of one gauge (``GET /readings?bucket=1m`` vs GROUP BY on raw);
* 30 days of hourly averages of every gauge in one district (``GET /readings?bucket=1h``,
  served from the hourly rollup, vs GROUP BY on raw).

It also measures alert evaluation throughput against the storage write rate of the same
readings (``write_batch``), both in readings per second.

On TimescaleDB the hourly rollups are continuous aggregates: after generating, the
compression and refresh policy jobs are run (older chunks compressed, aggregates
materialised) and the scheduler stays on while the queries are timed, as in production.

    python -m bench query            # full size: 10,000 devices, 30 days, ~22 M readings
    python -m bench.query --small    # 1,000 devices, 3 days: a quick run
    python -m bench.query --devices 2000 --days 10 --paths timescaledb

``CITYSENSE_BENCH_SIZE=small`` makes ``make bench`` take the quick size;
``CITYSENSE_BENCH_PATHS`` (default ``postgresql,timescaledb``) picks the paths.
``CITYSENSE_BENCH_DATABASE_URL`` names the plain server (default: postgres on
127.0.0.1:5432); ``CITYSENSE_BENCH_TIMESCALE_URL`` a TimescaleDB server, else a private one
is started from ``CITYSENSE_BENCH_PG_BINDIR`` (or ``CITYSENSE_TEST_PG_BINDIR``): a PostgreSQL
bin directory with the extension (``../shared/timescaledb/install`` prints one on this machine
kind). A scratch database is created and dropped on each. The full size needs about 3.5 GB of
disk per path and 4-6 minutes per path to generate on a 2-core machine. Each path's figures
go under ``paths.<name>`` in ``bench/results/query.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn

from alerts.config import AlertConfig
from alerts.evaluator import AlertEvaluator
from alerts.notify import Dispatcher
from alerts.sink import AlertSink
from api.app import create_app
from bench._servers import server_url
from citysense.local.ports import free_port
from core.kinds import builtin_kinds
from core.settings import load_settings
from core.storage import timescale as timescale_sql
from core.storage.batches import write_batch
from core.storage.events import reading_items
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.storage.rollups import aggregate_columns_sql, numeric_fields, rollup_table
from core.wire import Reading

RESULTS = Path(__file__).parent / "results" / "query.json"
DISTRICTS = [f"Kecamatan {i:02d}" for i in range(1, 23)]
# Reporting intervals for the generated history (coarser than live, to fit ~22 M rows).
INTERVALS = {"flood_gauge": "5 minutes", "network_node": "10 minutes", "streetlight": "30 minutes"}


PATHS = ("postgresql", "timescaledb")


def _with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def scratch_db(server: str) -> Iterator[str]:
    name = f"citysense_bench_query_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield _with_db(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def generate(
    url: str, devices: int, days: int, end: datetime, *, old_days: int = 0
) -> dict[str, Any]:
    """Devices, readings, latest state and the hourly rollups, all in SQL."""
    kinds = builtin_kinds()
    start = end - timedelta(days=days)
    n_gauge, n_node = devices * 5 // 100, devices * 15 // 100
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "INSERT INTO devices (id, kind, name, status, district, latitude, longitude)"
            " SELECT CASE WHEN i <= %(g)s THEN 'AWLR-' WHEN i <= %(g)s + %(n)s THEN 'NODE-'"
            "  ELSE 'PJU-' END || lpad(i::text, 5, '0'),"
            " CASE WHEN i <= %(g)s THEN 'flood_gauge' WHEN i <= %(g)s + %(n)s"
            "  THEN 'network_node' ELSE 'streetlight' END,"
            " 'bench ' || i, 'active', 'Kecamatan ' || lpad((1 + i %% 22)::text, 2, '0'),"
            " -4.3 + (i %% 97) * 0.013, 103.4 + (i %% 89) * 0.014"
            " FROM generate_series(1, %(d)s) i",
            {"g": n_gauge, "n": n_node, "d": devices},
        )
        for k in kinds.values():
            c.execute(f"ALTER TABLE {k.table} DROP CONSTRAINT {k.table}_pkey".encode())
            c.execute(f"DROP INDEX {k.table}_time_idx".encode())
        jitter = "(random() - 0.5)"
        bodies = {
            "flood_gauge": (
                "water_level, rain, battery_v, rssi",
                "150 + 60 * sin(extract(epoch FROM t) / 86400.0 + hashtext(d.id) %% 7)"
                f" + 5 * {jitter},"
                f" greatest(0, 3 * {jitter}), 12.8 + 0.4 * {jitter}, -80 + (10 * {jitter})::int",
            ),
            "network_node": (
                "latency, packet_loss, rx_bps, clients, rsrp",
                f"45 + 20 * {jitter}, greatest(0, {jitter}), 2e6 + 1e6 * {jitter},"
                f" 20 + (10 * {jitter})::int, -90 + 8 * {jitter}",
            ),
            "streetlight": (
                "power_state, active_power, energy, voltage",
                "CASE WHEN extract(hour FROM t AT TIME ZONE 'Asia/Jakarta') >= 18 OR"
                " extract(hour FROM t AT TIME ZONE 'Asia/Jakarta') < 6 THEN 'on' ELSE 'off' END,"
                "CASE WHEN extract(hour FROM t AT TIME ZONE 'Asia/Jakarta') >= 18 OR"
                " extract(hour FROM t AT TIME ZONE 'Asia/Jakarta') < 6 THEN 80 ELSE 0 END,"
                f" extract(epoch FROM t - %(start)s) / 3600 * 0.04, 220 + 5 * {jitter}",
            ),
        }
        for k in kinds.values():
            cols, values = bodies[k.name]
            c.execute(
                f"INSERT INTO {k.table} (device_id, time, received_at, {cols})"
                f" SELECT d.id, t, t + interval '3 seconds', {values}"
                f" FROM devices d CROSS JOIN generate_series(%(start)s::timestamptz,"
                f" %(end)s::timestamptz, interval '{INTERVALS[k.name]}') t"
                " WHERE d.kind = %(kind)s".encode(),
                {"start": start, "end": end, "kind": k.name},
            )
        for k in kinds.values():  # one device of each kind, once a day before the rest
            cols, values = bodies[k.name]
            c.execute(
                f"INSERT INTO {k.table} (device_id, time, received_at, {cols})"
                f" SELECT d.id, t, t + interval '3 seconds', {values}"
                " FROM (SELECT min(id) AS id FROM devices WHERE kind = %(kind)s) d"
                " CROSS JOIN generate_series(%(start)s::timestamptz - %(old)s * interval '1 day',"
                " %(start)s::timestamptz - interval '1 day', interval '1 day') t".encode(),
                {"start": start, "kind": k.name, "old": old_days},
            )
        for k in kinds.values():
            c.execute(f"ALTER TABLE {k.table} ADD PRIMARY KEY (device_id, time)".encode())
            c.execute(f"CREATE INDEX {k.table}_time_idx ON {k.table} (time DESC)".encode())
            c.execute(f"ANALYZE {k.table}".encode())
        for k in kinds.values():
            vals = ", ".join(f"'{f.name}', r.\"{f.name}\"" for f in k.fields)
            c.execute(
                'INSERT INTO latest_state (device_id, kind, time, received_at, "values")'
                f" SELECT DISTINCT ON (device_id) device_id, '{k.name}', time, received_at,"
                f" jsonb_strip_nulls(jsonb_build_object({vals})) FROM {k.table} r"
                " ORDER BY device_id, time DESC".encode()
            )
        timescale = c.execute(timescale_sql.DETECT).fetchone() is not None
        policies_s = 0.0
        if timescale:  # what the policies do in production: compress, materialise
            t1 = time.perf_counter()
            jobs = c.execute(
                "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name IN"
                " ('policy_compression', 'policy_refresh_continuous_aggregate')"
                " ORDER BY proc_name, job_id"
            ).fetchall()
            for (job,) in jobs:
                c.execute(f"CALL run_job({int(job)})".encode())
            policies_s = time.perf_counter() - t1
        else:
            for k in kinds.values():
                names = ["n", "last_time"]
                for f in numeric_fields(k):
                    names += [f"{f.name}_{s}" for s in ("n", "sum", "min", "max", "last")]
                cols = ", ".join(f'"{n}"' for n in names)
                rollup = (
                    f"INSERT INTO {rollup_table(k)} (device_id, bucket, {cols})"
                    " SELECT r.device_id, date_trunc('hour', r.time, 'UTC'),"
                    f" {aggregate_columns_sql(k)} FROM {k.table} r GROUP BY 1, 2"
                )
                c.execute(rollup.encode())
        c.execute(
            "INSERT INTO flood_levels (device_id, level) SELECT id, 'NORMAL' FROM devices"
            " WHERE kind = 'flood_gauge'"
        )
        # as with live traffic: every device's current hour is dirty (not yet rolled up)
        c.execute(
            "INSERT INTO rollup_dirty (kind, device_id, bucket)"
            " SELECT kind, id, date_trunc('hour', %s::timestamptz, 'UTC') FROM devices",
            (end,),
        )
        c.execute("VACUUM ANALYZE")
        counts = {
            k.name: c.execute(f"SELECT count(*) FROM {k.table}".encode()).fetchone()[0]  # type: ignore[index]
            for k in kinds.values()
        }
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        chunks: dict[str, int] = {}
        compressed = 0
        if timescale:
            for k in kinds.values():
                chunks[k.name] = int(
                    c.execute(f"SELECT count(*) FROM show_chunks('{k.table}')".encode()).fetchone()[
                        0
                    ]  # type: ignore[index]
                )
            compressed = int(
                c.execute(
                    "SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed"
                ).fetchone()[0]  # type: ignore[index]
            )
    return {
        "devices": devices,
        "days": days,
        "readings": sum(counts.values()),
        "readings_by_kind": counts,
        "intervals": INTERVALS,
        "database_bytes": size,
        "database_gb": round(size / 1e9, 2),
        "generate_s": round(time.perf_counter() - t0, 1),
        "old_days_one_device_per_kind": old_days,
        "chunks_by_kind": chunks,
        "compressed_chunks": compressed,
        "policy_jobs_s": round(policies_s, 1),
    }


@contextmanager
def api_server(url: str) -> Iterator[str]:
    settings = load_settings(database_url=url, db_pool_max=4)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, builtin_kinds()),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=100, method="inclusive")
    return {"p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2), "n": len(s)}


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def queries(url: str, base: str, end: datetime, repeat: int) -> dict[str, Any]:
    day_ago, month_ago = end - timedelta(hours=24), end - timedelta(days=30)
    district = "Kecamatan 05"
    with psycopg.connect(url) as c, httpx.Client(base_url=base, timeout=60) as http:
        gauge = c.execute("SELECT min(id) FROM devices WHERE kind = 'flood_gauge'").fetchone()[0]  # type: ignore[index]
        in_district = c.execute(
            "SELECT count(*) FROM devices WHERE kind = 'flood_gauge' AND district = %s", (district,)
        ).fetchone()[0]  # type: ignore[index]

        def get(path: str, params: dict[str, str]) -> Callable[[], object]:
            def call() -> object:
                r = http.get(path, params=params)
                r.raise_for_status()
                return r.content

            return call

        def sql(q: str, *args: object) -> Callable[[], object]:
            return lambda: c.execute(q.encode(), args).fetchall()

        latest_raw = " UNION ALL ".join(
            f"SELECT d.id, x.time FROM devices d CROSS JOIN LATERAL (SELECT * FROM {t} r"
            f" WHERE r.device_id = d.id ORDER BY time DESC LIMIT 1) x WHERE d.kind = '{k}'"
            for k, t in (
                ("flood_gauge", "readings_flood_gauge"),
                ("network_node", "readings_network_node"),
                ("streetlight", "readings_streetlight"),
            )
        )
        plan = {
            "latest_state_all_devices": (
                get("/state", {}),
                sql(latest_raw),
            ),
            "one_device_24h_1min_buckets": (
                get(
                    "/readings",
                    {
                        "device": gauge,
                        "bucket": "1m",
                        "agg": "avg",
                        "field": "water_level",
                        "from": day_ago.isoformat(),
                        "to": end.isoformat(),
                    },
                ),
                sql(
                    "SELECT date_trunc('minute', time), avg(water_level) FROM readings_flood_gauge"
                    " WHERE device_id = %s AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1",
                    gauge,
                    day_ago,
                    end,
                ),
            ),
            "district_gauges_30d_hourly_avg": (
                get(
                    "/readings",
                    {
                        "kind": "flood_gauge",
                        "district": district,
                        "bucket": "1h",
                        "agg": "avg",
                        "field": "water_level",
                        "from": month_ago.isoformat(),
                        "to": end.isoformat(),
                    },
                ),
                sql(
                    "SELECT r.device_id, date_trunc('hour', r.time), avg(r.water_level)"
                    " FROM readings_flood_gauge r JOIN devices d ON d.id = r.device_id"
                    " WHERE d.district = %s AND r.time >= %s AND r.time < %s"
                    " GROUP BY 1, 2 ORDER BY 1, 2",
                    district,
                    month_ago,
                    end,
                ),
            ),
        }
        out: dict[str, Any] = {"district_gauges": in_district}
        for name, (api_call, raw_call) in plan.items():
            api = timed(api_call, repeat)
            raw = timed(raw_call, repeat)
            out[name] = {
                "api": api,
                "raw_table": raw,
                "api_p99_vs_raw_p99": round(api["p99_ms"] / raw["p99_ms"], 2),
                "target_p99_ms": 100,
                "meets_target": api["p99_ms"] < 100,
            }
            print(
                f"  {name:34s} API p50 {api['p50_ms']:8.1f} ms  p99 {api['p99_ms']:8.1f} ms |"
                f" raw p50 {raw['p50_ms']:8.1f} ms  p99 {raw['p99_ms']:8.1f} ms |"
                f" API/raw p99 {out[name]['api_p99_vs_raw_p99']:.2f}",
                flush=True,
            )
    return out


async def evaluation_rate(url: str, end: datetime, batches: int, size: int) -> dict[str, Any]:
    """Readings/s through write_batch (the ingest storage path) vs through the evaluator."""
    kinds = builtin_kinds()
    pool = await create_pool(url, min_size=2, max_size=4)
    try:
        ids = [
            (r["id"], r["kind"])
            for r in await pool.fetch(
                "SELECT id, kind FROM devices ORDER BY random() LIMIT $1", size
            )
        ]
        values: dict[str, dict[str, Any]] = {
            "flood_gauge": {"water_level": 160.0, "rain": 0.0},
            "network_node": {"latency": 40.0, "packet_loss": 0.0},
            "streetlight": {"power_state": "on", "active_power": 80.0},
        }
        batches_of = [
            [Reading(d, k, end + timedelta(seconds=1 + b), dict(values[k])) for d, k in ids]
            for b in range(batches)
        ]
        t = time.perf_counter()
        for batch in batches_of:
            await write_batch(pool, kinds, batch, [], datetime.now(UTC))
        write_s = time.perf_counter() - t

        config = AlertConfig(lamp_settle_s=3600)
        dispatcher = Dispatcher([])
        sink = AlertSink(pool, dispatcher, tz=config.timezone)
        await sink.load()
        evaluator = AlertEvaluator(
            pool, kinds, config, sink, clock=lambda: end + timedelta(minutes=1)
        )
        items = [reading_items(b, datetime.now(UTC)) for b in batches_of]
        await evaluator.on_readings(items[0])  # warm up (first levels written)
        t = time.perf_counter()
        for it in items:
            await evaluator.on_readings(it)
        eval_s = time.perf_counter() - t
        await evaluator.lamps()  # the first pass opens day-burner alerts; time a steady one
        t = time.perf_counter()
        await evaluator.lamps()
        lamp_s = time.perf_counter() - t
        t = time.perf_counter()
        await evaluator.tick()
        tick_s = time.perf_counter() - t
    finally:
        await pool.close()
    n = batches * size
    write_rate, eval_rate = n / write_s, n / eval_s
    return {
        "readings": n,
        "batch_size": size,
        "write_batch_readings_per_s": round(write_rate),
        "evaluator_readings_per_s": round(eval_rate),
        "evaluator_vs_write_rate": round(eval_rate / write_rate, 2),
        "lamp_pass_all_lights_ms": round(lamp_s * 1000, 1),
        "timer_tick_all_devices_ms": round(tick_s * 1000, 1),
        "keeps_up": eval_rate >= write_rate,
    }


def run_path(path: str, devices: int, days: int, old_days: int, repeat: int) -> dict[str, Any]:
    print(f"-- {path}", flush=True)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with server_url(path) as server, scratch_db(server) as url:
        got = migrate(url, retention_days=730).storage_path
        if got != path:
            raise SystemExit(f"the {path} server gave the {got} storage path")
        print(f"  generating {devices} devices x {days} days ...", flush=True)
        data = generate(url, devices, days, end, old_days=old_days)
        print(
            f"  {data['readings']:,} readings, database {data['database_gb']} GB,"
            f" generated in {data['generate_s']} s (policy jobs {data['policy_jobs_s']} s,"
            f" chunks {data['chunks_by_kind'] or '-'})",
            flush=True,
        )
        with api_server(url) as base:
            results = queries(url, base, end, repeat)
        rate = asyncio.run(evaluation_rate(url, end, batches=10, size=min(2000, devices)))
        print(
            f"  alert evaluation {rate['evaluator_readings_per_s']:,} readings/s vs storage"
            f" writes {rate['write_batch_readings_per_s']:,} readings/s"
            f" (ratio {rate['evaluator_vs_write_rate']}); lamp pass"
            f" {rate['lamp_pass_all_lights_ms']} ms,"
            f" timer tick {rate['timer_tick_all_devices_ms']} ms",
            flush=True,
        )
    return {
        "measured_at": datetime.now(UTC).isoformat(),
        "data": data,
        "queries": results,
        "alert_evaluation": rate,
    }


def _kept_paths(size: str, devices: int, days: int) -> dict[str, Any]:
    """The other paths' figures from the last run of the same size (a run of one path
    keeps the other's, so both can be measured at quieter moments of a shared machine)."""
    try:
        old = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}
    if old.get("size") != size:
        return {}
    return {
        name: fig
        for name, fig in (old.get("paths") or {}).items()
        if (fig["data"]["devices"], fig["data"]["days"]) == (devices, days)
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.query", description=__doc__)
    p.add_argument("--small", action="store_true", help="1,000 devices, 3 days")
    p.add_argument("--devices", type=int, default=None)
    p.add_argument("--days", type=int, default=None)
    p.add_argument("--old-days", type=int, default=420, help="daily chunks before the history")
    p.add_argument("--repeat", type=int, default=100)
    p.add_argument(
        "--paths",
        default=os.environ.get("CITYSENSE_BENCH_PATHS", ",".join(PATHS)),
        help="comma-separated: postgresql, timescaledb",
    )
    args = p.parse_args(argv if argv is not None else [])
    paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    if not paths or set(paths) - set(PATHS):
        p.error(f"--paths takes {', '.join(PATHS)}")
    # a stopped run still drops its scratch database (the `finally` of scratch_db)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    small = args.small or os.environ.get("CITYSENSE_BENCH_SIZE") == "small"
    devices = args.devices or (1000 if small else 10_000)
    days = args.days or (3 if small else 30)
    size = "small" if small else ("full" if (devices, days) == (10_000, 30) else "custom")
    measured = _kept_paths(size, devices, days)
    for path in paths:
        measured[path] = run_path(path, devices, days, args.old_days, args.repeat)
    report: dict[str, Any] = {
        "benchmark": "query",
        "measured_at": datetime.now(UTC).isoformat(),
        "size": size,
        "paths": {x: measured[x] for x in PATHS if x in measured},
        "machine": {"cpus": os.cpu_count()},
    }
    if len(measured) == len(PATHS):
        pg, ts = (measured[x] for x in PATHS)
        report["timescaledb_vs_postgresql_api_p99"] = {
            name: round(
                ts["queries"][name]["api"]["p99_ms"] / pg["queries"][name]["api"]["p99_ms"], 2
            )
            for name in pg["queries"]
            if isinstance(pg["queries"][name], dict)
        }
        for name, ratio in report["timescaledb_vs_postgresql_api_p99"].items():
            print(f"  {name:34s} TimescaleDB/PostgreSQL API p99 {ratio:.2f}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
