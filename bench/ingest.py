"""Ingest benchmark: broker -> ingest -> database, against the COPY ceiling, the receive
ceiling and a naive writer, on both storage paths (plain PostgreSQL, TimescaleDB) in one run.

Starts its own Mosquitto (the shipped configuration) and, per path, a scratch database
(bench/_servers.py: ``CITYSENSE_BENCH_PATHS``, ``CITYSENSE_BENCH_DATABASE_URL``,
``CITYSENSE_BENCH_TIMESCALE_URL`` or a private TimescaleDB cluster from
``CITYSENSE_BENCH_PG_BINDIR``), runs the real ``citysense ingest`` as a child process with
metrics on, and publishes with the load generator (simulators/load.py). Reports, per path:

* ceiling: the same rows binary-COPYed straight into the readings table, three times (at
  the start, just before and just after the backlog phase); the median is the ceiling;
* naive: one INSERT and one commit per reading (default synchronous_commit), as tutorials do;
* receive ceiling: the single-reading load, received and acknowledged by ingest's own MQTT
  client (QoS 1, same receive maximum) that does nothing else: no decoding, no database;
* e2e: readings committed per second through broker and ingest, one reading per message
  (this load and the receive ceiling's are published flat out, offered at 150,000/s);
* latency: p50/p99 publish-to-commit at 5,000 readings/s (from ingest's lag histogram);
* backlog: messages carrying 100 readings each (published at 200,000 readings/s);
* CPU of ingest per 1,000 readings, 1 vs 2 workers (single readings and backlogs), and per
  phase the CPU seconds of ingest, broker, database, load generator and the whole machine;
* the ratios the targets are set on (``backlog_vs_copy_ceiling``,
  ``e2e_vs_receive_ceiling``), each target met or not.

Writes bench/results/ingest.json (``paths.postgresql``, ``paths.timescaledb``);
``CITYSENSE_BENCH_QUICK=1`` runs 30 % of the load (a few minutes). Figures on a shared
2-core machine are noisy: compare the ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench._servers import server_url, wanted_paths
from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.kinds import builtin_kinds
from core.settings import Settings, load_settings
from core.storage.migrate import migrate
from core.wire import Topics
from ingest.buffered_client import BufferedClient, Publish
from simulators.load import LoadResult, load_device_ids, run_load
from tests.support.procs import Proc, settings_env
from tests.support.services import scratch_database

RESULTS = Path(__file__).parent / "results" / "ingest.json"
KIND = builtin_kinds()["flood_gauge"]
QUICK = os.environ.get("CITYSENSE_BENCH_QUICK") == "1"
SINGLE_RATE = 150_000
"""Single readings offered per second, for 2 s: 300,000 messages in a full run, published
flat out (a 2-core machine publishes 40,000-60,000/s to a subscriber that only receives)."""


@dataclass
class Phase:
    name: str
    published: int
    stored: int
    seconds: float
    readings_per_s: float
    publish_rate: float
    cpu_s_per_1k: float | None = None
    cpu_s: dict[str, float] | None = None
    """CPU seconds over the phase by component (see :class:`Components`)."""


class Components:
    """CPU seconds of each part of the machine over a phase: the broker (its process), the
    database (the server processes serving the bench's database; the server's background
    writers are not counted), the load generator (the bench's finished child processes), the
    whole machine's busy time (other users included) and its capacity (cores x seconds).
    Processes that exit within the phase count only what they used until the last sample."""

    def __init__(self, broker_pid: int | None, url: str) -> None:
        self._broker = psutil.Process(broker_pid) if broker_pid else None
        self._db = f" {urlsplit(url).path.lstrip('/')} "

    def _database(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or ()) + " "
            if cmd.startswith("postgres:") and self._db in cmd:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    out[p.pid] = t.user + t.system
        return out

    def sample(self) -> tuple[float, float, dict[int, float], float, float]:
        broker = 0.0
        if self._broker is not None:
            t = self._broker.cpu_times()
            broker = t.user + t.system
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        return (
            time.monotonic(),
            broker,
            self._database(),
            children.ru_utime + children.ru_stime,
            busy,
        )

    @staticmethod
    def delta(
        a: tuple[float, float, dict[int, float], float, float],
        b: tuple[float, float, dict[int, float], float, float],
        ingest_cpu: float,
    ) -> dict[str, float]:
        database = sum(v - a[2].get(pid, 0.0) for pid, v in b[2].items())
        return {
            "ingest": round(ingest_cpu, 2),
            "broker": round(b[1] - a[1], 2),
            "database": round(database, 2),
            "load_generator": round(b[3] - a[3], 2),
            "machine_busy": round(b[4] - a[4], 2),
            "capacity": round((b[0] - a[0]) * (os.cpu_count() or 1), 2),
        }


# -- metrics scraping --------------------------------------------------------------------


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def lag_quantiles(before: dict[str, float], after: dict[str, float]) -> tuple[float, float, int]:
    """p50, p99 (ms) of publish-to-commit from the histogram delta, linear within buckets."""
    prefix = "citysense_ingest_publish_to_commit_seconds_bucket{le="
    buckets = []
    for key, value in after.items():
        if key.startswith(prefix):
            le = key[len(prefix) + 1 : -2]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets.append((bound, value - before.get(key, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0

    def q(p: float) -> float:
        target = p * total
        prev_bound, prev_count = 0.0, 0.0
        for bound, count in buckets:
            if count >= target:
                if bound == float("inf"):
                    return prev_bound * 1000
                frac = (target - prev_count) / max(count - prev_count, 1e-9)
                return (prev_bound + frac * (bound - prev_bound)) * 1000
            prev_bound, prev_count = bound, count
        return float("nan")

    return q(0.5), q(0.99), int(total)


def cpu_seconds(ports: list[int]) -> float:
    return sum(scrape(p).get("process_cpu_seconds_total", 0.0) for p in ports)


# -- services ----------------------------------------------------------------------------


@contextmanager
def broker() -> Iterator[LocalMosquitto]:
    """One Mosquitto (the shipped configuration) for every path of the run."""
    work = Path(tempfile.mkdtemp(prefix="citysense-bench-"))
    mqtt_broker = LocalMosquitto(work / "mqtt", free_port())
    mqtt_broker.start()
    try:
        yield mqtt_broker
    finally:
        mqtt_broker.stop()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def database(path: str) -> Iterator[str]:
    """A migrated scratch database on ``path``'s server; refuses a server of the other path."""
    with server_url(path) as server, scratch_database(server, "citysense_bench") as url:
        got = migrate(url, retention_days=730).storage_path
        if got != path:
            raise SystemExit(f"the {path} server gave the {got} storage path")
        yield url


@contextmanager
def ingest(url: str, broker: LocalMosquitto, workers: int, log: Path) -> Iterator[list[int]]:
    base = free_port()
    while base + workers > 65535:
        base = free_port()
    env = settings_env(
        url,
        broker.port,
        ingest_client_id=f"bench-{uuid.uuid4().hex[:6]}",
        ingest_metrics_port=str(base),
        ingest_prune_interval_s="0",
    )
    proc = Proc(["ingest", "--workers", str(workers)], env, log)
    try:
        deadline = time.monotonic() + 30
        ports = [base + i for i in range(workers)]
        while time.monotonic() < deadline:
            if proc.output().count("subscribed to") >= workers:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"ingest did not subscribe:\n{proc.output()[-2000:]}")
        yield ports
    finally:
        proc.stop()


async def count_rows(url: str, prefix: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        n = await conn.fetchval(
            f"SELECT count(*) FROM {KIND.table} WHERE device_id LIKE $1 || '-%'", prefix
        )
        return int(n)
    finally:
        await conn.close()


def wait_stored(url: str, prefix: str, expected: int, timeout: float) -> tuple[int, float]:
    """Poll until ``expected`` rows are stored; (rows, monotonic time they all were)."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        n = asyncio.run(count_rows(url, prefix))
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        if n >= expected or now > deadline or now - last_change > 15:
            return n, last_change
        time.sleep(0.05)


# -- phases ------------------------------------------------------------------------------


async def ceiling(url: str, rows: int, tag: str = "") -> float:
    """Binary COPY of ``rows`` readings on one connection, 50,000 per statement (each its
    own transaction). ``tag`` keeps each sample's device ids apart from the others'."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        records = [
            (
                f"CEIL{tag}-{i % 1000:06d}",
                now - timedelta(milliseconds=i),
                now,
                100.0,
                0.5,
                12.6,
                -80,
                "PLN",
            )
            for i in range(rows)
        ]
        cols = ["device_id", "time", "received_at", *[f.name for f in KIND.fields]]
        t0 = time.perf_counter()
        for start in range(0, rows, 50_000):
            await conn.copy_records_to_table(
                KIND.table, records=records[start : start + 50_000], columns=cols
            )
        return rows / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def naive(url: str, seconds: float) -> float:
    """One INSERT and commit per reading, as a per-message handler would."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        sql = (
            f"INSERT INTO {KIND.table} (device_id, time, water_level, rain, battery_v, rssi,"
            " power_source) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await conn.execute(
                sql, f"NAIVE-{n % 100:06d}", now - timedelta(milliseconds=n), 100.0, 0.5, 12.6,
                -80, "PLN",
            )  # fmt: skip
            n += 1
        return n / (time.perf_counter() - t0)
    finally:
        await conn.close()


def through_ingest(
    settings: Settings,
    url: str,
    ports: list[int],
    *,
    name: str,
    devices: int,
    rate: float,
    duration: float,
    k: int = 1,
    processes: int = 1,
    broker_pid: int | None = None,
) -> tuple[Phase, dict[str, float], dict[str, float]]:
    prefix = f"B{uuid.uuid4().hex[:5].upper()}"
    from simulators.load import register_load_devices

    register_load_devices(settings, KIND.name, load_device_ids(devices, prefix))
    before = {}
    for p in ports:
        before.update({f"{p}:{k2}": v for k2, v in scrape(p).items()})
    components = Components(broker_pid, url)
    cpu0 = cpu_seconds(ports)
    s0 = components.sample()
    t0 = time.monotonic()
    result: LoadResult = run_load(
        settings,
        devices=devices,
        rate=rate,
        duration_s=duration,
        readings_per_message=k,
        processes=processes,
        kind=KIND.name,
        device_prefix=prefix,
        register=False,
    )
    stored, t_end = wait_stored(url, prefix, result.sent_readings, timeout=120)
    cpu = cpu_seconds(ports) - cpu0
    s1 = components.sample()
    seconds = max(t_end - t0, 1e-6)
    after = {}
    for p in ports:
        after.update({f"{p}:{k2}": v for k2, v in scrape(p).items()})
    phase = Phase(
        name=name,
        published=result.sent_readings,
        stored=stored,
        seconds=round(seconds, 2),
        readings_per_s=round(stored / seconds),
        publish_rate=round(result.achieved_rate * k),
        cpu_s_per_1k=round(cpu / max(stored, 1) * 1000, 4),
        cpu_s=Components.delta(s0, s1, cpu),
    )
    return phase, before, after


def merged_lag(before: dict[str, float], after: dict[str, float]) -> tuple[float, float, int]:
    """Sum the per-worker histograms (keys are 'port:metric')."""

    def strip(d: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, v in d.items():
            metric = key.split(":", 1)[1]
            out[metric] = out.get(metric, 0.0) + v
        return out

    return lag_quantiles(strip(before), strip(after))


class Receiver:
    """The receive ceiling's subscriber: ingest's MQTT client (paho with the bulk reader),
    MQTT 5, QoS 1, manual acknowledgements, the same receive maximum; it only counts what
    arrives and acknowledges it at once. No decoding, no database."""

    def __init__(self, settings: Settings, kind: str) -> None:
        self.count = 0
        self.last = 0.0
        self._subscribed = threading.Event()
        self._filter = f"{Topics(settings.topic_root).root}/{kind}/+/telemetry"
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-receive-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            client.username_pw_set(settings.mqtt_username, password)
        client.on_publishes = self._on_publishes
        client.on_connect = lambda c, *_: c.subscribe([(self._filter, 1)])
        client.on_subscribe = lambda *_: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = settings.ingest_receive_maximum
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30, properties=props)
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(30):
            self.close()
            raise RuntimeError("receive ceiling: the subscriber did not subscribe")

    def _on_publishes(self, publishes: list[Publish]) -> None:
        self._client.ack_many([mid for _, _, mid, qos in publishes if qos == 1])
        self.count += len(publishes)
        self.last = time.monotonic()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def receive_ceiling(
    settings: Settings,
    *,
    devices: int,
    rate: float,
    duration: float,
    processes: int,
    broker_pid: int | None = None,
) -> Phase:
    """The same load as the single-reading phase, to a subscriber that only receives and
    acknowledges; timed as the ingest phases are (from before the publishers start)."""
    receiver = Receiver(settings, KIND.name)
    components = Components(broker_pid, settings.database_url)
    try:
        s0 = components.sample()
        t0 = time.monotonic()
        result = run_load(
            settings,
            devices=devices,
            rate=rate,
            duration_s=duration,
            processes=processes,
            kind=KIND.name,
            device_prefix=f"R{uuid.uuid4().hex[:5].upper()}",
            register=False,
        )
        deadline = time.monotonic() + 60
        while receiver.count < result.sent_messages and time.monotonic() < deadline:
            time.sleep(0.02)
        received, last = receiver.count, receiver.last
        s1 = components.sample()
    finally:
        receiver.close()
    seconds = max(last - t0, 1e-6)
    return Phase(
        name="receive ceiling",
        published=result.sent_readings,
        stored=received,
        seconds=round(seconds, 2),
        readings_per_s=round(received / seconds),
        publish_rate=round(result.achieved_rate),
        cpu_s=Components.delta(s0, s1, 0.0),  # the receiver is the bench's own thread
    )


def run_path(path: str, mqtt_broker: LocalMosquitto, scale: float) -> dict[str, Any]:
    """Every phase on one storage path; the figures and ratios as a dict."""
    print(f"-- {path}", flush=True)
    with database(path) as url:
        settings = load_settings(database_url=url, mqtt_port=mqtt_broker.port)
        work = Path(tempfile.mkdtemp(prefix="citysense-bench-logs-"))
        phases: list[Phase] = []
        # The two workloads, each run with one worker and then two. Both are offered faster
        # than anything here takes them (150,000 single readings/s, 200,000 backlog
        # readings/s), so the publishers go flat out and the offered rate is not what caps
        # a result: a machine fast enough to take 30,000/s made that rate the "ceiling".
        pid = mqtt_broker.proc.pid if mqtt_broker.proc else None
        load = partial(
            receive_ceiling, settings, devices=1000, rate=SINGLE_RATE, duration=2 * scale,
            broker_pid=pid,
        )  # fmt: skip
        single = partial(
            through_ingest, settings, url, devices=1000, rate=SINGLE_RATE, duration=2 * scale,
            processes=2, broker_pid=pid,
        )  # fmt: skip
        backlogs = partial(
            through_ingest, settings, url, devices=500, rate=2000, duration=5 * scale, k=100,
            processes=2, broker_pid=pid,
        )  # fmt: skip
        # The COPY ceiling swings +-20 % from one measurement to the next on a shared
        # machine, and the table grows through the run: it is measured three times (first,
        # just before and just after the backlog phase, into the table as it is then) and
        # the ratio taken against the median.
        copy_rows = int(200_000 * scale)
        print("  ceiling: binary COPY ...", flush=True)
        ceilings = [asyncio.run(ceiling(url, copy_rows, "A"))]
        print("  naive: INSERT + commit per reading ...", flush=True)
        naive_rate = asyncio.run(naive(url, 5 * scale))
        # Before any ingest has subscribed: its sessions outlive it at the broker.
        print("  receive ceiling: receive and acknowledge only ...", flush=True)
        received = load(processes=2)
        with ingest(url, mqtt_broker, 1, work / "ingest1.log") as ports:
            print("  e2e, 1 worker, 1 reading/message ...", flush=True)
            e2e, _, _ = single(ports, name="e2e 1 worker")
            phases.append(e2e)
            print("  latency at 5,000 readings/s ...", flush=True)
            lat, b, a = through_ingest(
                settings, url, ports, name="at 5k/s", devices=1000, rate=5000,
                duration=10 * scale,
            )  # fmt: skip
            phases.append(lat)
            p50, p99, observed = merged_lag(b, a)
            print(
                "  backlogs of 100 readings/message (COPY ceiling before and after) ...", flush=True
            )
            ceilings.append(asyncio.run(ceiling(url, copy_rows, "B")))
            backlog, _, _ = backlogs(ports, name="backlog x100")
            phases.append(backlog)
            ceilings.append(asyncio.run(ceiling(url, copy_rows, "C")))
        ceiling_rate = statistics.median(ceilings)
        with ingest(url, mqtt_broker, 2, work / "ingest2.log") as ports:
            print("  e2e, 2 workers ...", flush=True)
            two, _, _ = single(ports, name="e2e 2 workers")
            phases.append(two)
            print("  backlogs of 100, 2 workers ...", flush=True)
            backlog_two, _, _ = backlogs(ports, name="backlog x100 2 workers")
            phases.append(backlog_two)
        shutil.rmtree(work, ignore_errors=True)

    lost = sum(p.published - p.stored for p in phases)
    return {
        "backlog_vs_copy_ceiling": round(backlog.readings_per_s / ceiling_rate, 3),
        "e2e_vs_receive_ceiling": round(e2e.readings_per_s / max(received.readings_per_s, 1), 3),
        "receive_ceiling_readings_per_s": received.readings_per_s,
        "receive_ceiling_received": received.stored,
        "receive_ceiling_published": received.published,
        "e2e_readings_per_s": e2e.readings_per_s,
        "e2e_2_workers_readings_per_s": two.readings_per_s,
        "ceiling_readings_per_s": round(ceiling_rate),
        "ceiling_samples_readings_per_s": [round(c) for c in ceilings],
        "naive_readings_per_s": round(naive_rate),
        "e2e_vs_naive": round(e2e.readings_per_s / naive_rate, 1),
        **saturation_bound(received, e2e),
        "backlog_readings_per_s": backlog.readings_per_s,
        "backlog_2_workers_readings_per_s": backlog_two.readings_per_s,
        "two_workers_vs_one": round(two.readings_per_s / max(e2e.readings_per_s, 1), 2),
        "two_workers_vs_one_backlogs": round(
            backlog_two.readings_per_s / max(backlog.readings_per_s, 1), 2
        ),
        "p50_ms_at_5k": round(p50, 1),
        "p99_ms_at_5k": round(p99, 1),
        "latency_samples": observed,
        "cpu_ms_per_1k_readings": round((e2e.cpu_s_per_1k or 0) * 1000, 1),
        "cpu_ms_per_1k_backlog_readings": round((backlog.cpu_s_per_1k or 0) * 1000, 1),
        "cpu_s_per_1k_readings": e2e.cpu_s_per_1k,
        "lost": lost,
        "phases": [asdict(received), *(asdict(p) for p in phases)],
    }


def saturation_bound(received: Phase, e2e: Phase) -> dict[str, float]:
    """What a saturated machine allows: the whole machine's busy CPU per 1,000 readings in
    the receive-only run and in the e2e run. Where both runs keep every core busy, rates go
    as the inverse of these, so e2e can reach at most their ratio of the receive ceiling
    (ingest and the database take CPU that the broker and the publishers had in the
    receive-only run); where cores are left idle, the bound does not apply."""

    def per_1k(p: Phase) -> float:
        busy = (p.cpu_s or {}).get("machine_busy", 0.0)  # core-seconds
        return busy / max(p.stored, 1) * 1e6

    receive_ms, e2e_ms = per_1k(received), per_1k(e2e)
    return {
        "machine_cpu_ms_per_1k_receive": round(receive_ms, 2),
        "machine_cpu_ms_per_1k_e2e": round(e2e_ms, 2),
        "e2e_vs_receive_bound_if_saturated": round(receive_ms / e2e_ms, 3) if e2e_ms else 0.0,
    }


TARGETS = (
    ("backlog_vs_copy_ceiling", ">=", 0.6),
    ("e2e_vs_receive_ceiling", ">=", 0.8),
    ("cpu_ms_per_1k_backlog_readings", "<=", 8.0),
    ("cpu_ms_per_1k_readings", "<=", 20.0),
    ("p99_ms_at_5k", "<", 1000.0),
    ("lost", "<=", 0),
    ("e2e_vs_naive", ">=", 10.0),
)


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def print_path(path: str, r: dict[str, Any]) -> None:
    def row(label: str, value: str, ratio: str = "") -> None:
        print(f"  {label:<44}{value:>16}  {ratio}")

    ceiling_rate, naive_rate = r["ceiling_readings_per_s"], r["naive_readings_per_s"]
    print(f"\n== {path}")
    row("what", "value", "ratio")
    samples = " / ".join(f"{c:,}" for c in r.get("ceiling_samples_readings_per_s", []))
    row("ceiling: binary COPY (median)", f"{ceiling_rate:,} r/s", f"1.00x ceiling ({samples})")
    row("naive: INSERT+commit per reading", f"{naive_rate:,} r/s", "1.00x naive")
    for p in r["phases"]:
        row(
            f"{p['name']} (published at {p['publish_rate']:,}/s)",
            f"{p['readings_per_s']:,} r/s",
            f"{p['readings_per_s'] / ceiling_rate:.2f}x ceiling,"
            f" {p['readings_per_s'] / naive_rate:.1f}x naive",
        )
    row(
        "p50 / p99 publish-to-commit at 5k/s",
        f"{r['p50_ms_at_5k']:.0f} / {r['p99_ms_at_5k']:.0f} ms",
    )
    row("ingest CPU per 1,000 readings (1 worker)", f"{r['cpu_ms_per_1k_readings']:.1f} ms")
    row("ingest CPU per 1,000 backlog readings", f"{r['cpu_ms_per_1k_backlog_readings']:.1f} ms")
    row("2 workers / 1 worker", f"{r['two_workers_vs_one']:.2f}x")
    row("2 workers / 1 worker, backlogs", f"{r['two_workers_vs_one_backlogs']:.2f}x")
    row("lost (published - stored)", str(r["lost"]))
    if r.get("machine_cpu_ms_per_1k_e2e"):
        row(
            "machine CPU per 1,000: receive-only / e2e",
            f"{r['machine_cpu_ms_per_1k_receive']:.1f} / {r['machine_cpu_ms_per_1k_e2e']:.1f} ms",
            f"saturated, e2e <= {r['e2e_vs_receive_bound_if_saturated']:.2f}x receive ceiling",
        )
    for p in r["phases"]:
        c = p.get("cpu_s")
        if c and c["capacity"]:
            parts = ("ingest", "broker", "database", "load_generator", "machine_busy")
            share = ", ".join(f"{x} {c[x] / c['capacity']:.0%}" for x in parts)
            row(f"CPU share of {c['capacity']:.0f} core-s: {p['name']}", "", share)
    for key, op, bound in TARGETS:
        value = r[key]
        met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
        row(f"target {key} {op} {bound:g}", f"{value:g}", "met" if met else "NOT met")


def main() -> int:
    scale = 0.3 if QUICK else 1.0
    paths = wanted_paths()
    load_before = _load_average()
    measured: dict[str, dict[str, Any]] = {}
    with broker() as mqtt_broker:
        for path in paths:
            measured[path] = run_path(path, mqtt_broker, scale)
    results: dict[str, Any] = {
        "benchmark": "ingest",
        "paths": measured,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "quick": QUICK,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for path, r in measured.items():
        print_path(path, r)
    print(f"\n  load average before/after: {load_before} / {_load_average()}")
    print(f"\nwrote {RESULTS}")
    return 0 if all(r["lost"] == 0 for r in measured.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
