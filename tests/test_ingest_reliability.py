"""The delivery guarantee under failure: real Mosquitto (shipped persistence config), real
PostgreSQL (a private cluster this module may restart), the real ``citysense ingest``.

Every stream is >= 50,000 readings, sent as backlog arrays so it is quick to publish, and
"exactly once" is checked by counting the stored rows and summing their values.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from citysense.local.postgres import scratch_dir
from core.wire import Topics
from tests.support.mqtt import publish_all
from tests.support.private_pg import PrivatePg, private_postgres
from tests.support.procs import Proc, settings_env

DEVICES = 50
READINGS = 50_000
PER_MESSAGE = 20


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePg]:
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def own_broker() -> Iterator[LocalMosquitto]:
    # Not under tmp_path: pytest makes that 0700 root, and Mosquitto (which drops root for
    # the 'mosquitto' user) could then write neither its log nor its persistence file, so
    # a "restart" would silently start with no sessions at all.
    workdir = scratch_dir("citysense-mqtt-")
    b = LocalMosquitto(workdir, free_port())
    b.start()
    yield b
    b.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Stream:
    prefix: str
    messages: list[tuple[str, bytes]]
    value_sum: float

    @property
    def readings(self) -> int:
        return len(self.messages) * PER_MESSAGE


def make_stream(url: str) -> Stream:
    """50 registered gauges, 1,000 readings each (distinct times), in arrays of 20."""
    prefix = f"REL{uuid.uuid4().hex[:6].upper()}"
    ids = [f"{prefix}-{d:03d}" for d in range(DEVICES)]
    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "INSERT INTO devices (id, kind, name) VALUES (%s, 'flood_gauge', 'reliability')",
            [(i,) for i in ids],
        )
    t = Topics()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    per_device = READINGS // DEVICES
    messages: list[tuple[str, bytes]] = []
    total = 0.0
    for start in range(0, per_device, PER_MESSAGE):
        for d, device in enumerate(ids):
            items = []
            for j in range(start, start + PER_MESSAGE):
                level = float((d * 7 + j) % 900)
                total += level
                ts = base + timedelta(seconds=j)
                items.append({"ts": ts.isoformat(), "water_level": level, "battery_v": 12.7})
            messages.append((t.telemetry("flood_gauge", device), json.dumps(items).encode()))
    return Stream(prefix, messages, total)


def stored(url: str, prefix: str) -> tuple[int, float]:
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(water_level), 0) FROM readings_flood_gauge"
            " WHERE device_id LIKE %s",
            (prefix + "-%",),
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def wait_count(url: str, prefix: str, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        try:
            n = stored(url, prefix)[0]
        except psycopg.OperationalError:
            n = 0  # the database is being restarted
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"only {n} of {at_least} readings stored after {timeout}s")


def start_ingest(url: str, broker: LocalMosquitto, client_id: str, log: Path) -> Proc:
    env = settings_env(
        url,
        broker.port,
        ingest_client_id=client_id,
        ingest_batch_size="100",
        ingest_batch_max_age_ms="20",
        ingest_prune_interval_s="0",
    )
    proc = Proc(["ingest", "--log-format", "text"], env, log)
    proc.wait_for(r"subscribed to ", timeout=30)
    return proc


def publish_in_background(
    broker: LocalMosquitto, messages: list[tuple[str, bytes]]
) -> threading.Thread:
    th = threading.Thread(target=publish_all, args=(broker.port, messages), daemon=True)
    th.start()
    return th


def assert_exactly_once(url: str, stream: Stream, timeout: float = 60) -> None:
    wait_count(url, stream.prefix, stream.readings, timeout)
    time.sleep(0.3)  # let any straggling redelivery land, so duplicates would show
    count, total = stored(url, stream.prefix)
    assert count == stream.readings
    assert total == pytest.approx(stream.value_sum)


def test_sigkill_mid_stream_then_restart_stores_every_reading_once(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    stream = make_stream(private_pg.url)
    client = f"rel-kill-{uuid.uuid4().hex[:6]}"
    ingest = start_ingest(private_pg.url, own_broker, client, tmp_path / "ingest1.log")
    publisher = publish_in_background(own_broker, stream.messages)
    wait_count(private_pg.url, stream.prefix, stream.readings // 5, 60)
    ingest.kill()  # SIGKILL: no flush, in-flight messages unacknowledged
    killed_at = stored(private_pg.url, stream.prefix)[0]
    assert killed_at < stream.readings, "the kill must land mid-stream"
    publisher.join(120)
    ingest = start_ingest(private_pg.url, own_broker, client, tmp_path / "ingest2.log")
    try:
        assert_exactly_once(private_pg.url, stream)
    finally:
        assert ingest.stop() == 0, ingest.output()


def test_postgres_restart_mid_stream_loses_and_duplicates_nothing(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    stream = make_stream(private_pg.url)
    ingest = start_ingest(
        private_pg.url, own_broker, f"rel-pg-{uuid.uuid4().hex[:6]}", tmp_path / "ingest.log"
    )
    half = len(stream.messages) // 2
    try:
        publisher = publish_in_background(own_broker, stream.messages[:half])
        wait_count(private_pg.url, stream.prefix, stream.readings // 10, 60)
        private_pg.server.stop("fast")
        assert stored_or_none(private_pg.url) is None
        publish_all(own_broker.port, stream.messages[half:])  # the stream goes on meanwhile
        ingest.wait_for("database unavailable; retrying", timeout=30)
        private_pg.server.start()
        publisher.join(120)
        assert_exactly_once(private_pg.url, stream)
    finally:
        if not private_pg.server.datadir.joinpath("postmaster.pid").exists():
            private_pg.server.start()
        assert ingest.stop() == 0, ingest.output()


def stored_or_none(url: str) -> int | None:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return 1
    except psycopg.OperationalError:
        return None


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    stream = make_stream(private_pg.url)
    half = len(stream.messages) // 2
    ingest = start_ingest(
        private_pg.url, own_broker, f"rel-mq-{uuid.uuid4().hex[:6]}", tmp_path / "ingest.log"
    )
    try:
        publish_all(own_broker.port, stream.messages[:half])  # held by the broker, QoS 1
        wait_count(private_pg.url, stream.prefix, stream.readings // 10, 60)
        own_broker.restart()  # graceful: Mosquitto saves sessions and queues to disk
        ingest.wait_for(r"subscribed to .*\n(.|\n)*subscribed to ", timeout=60)
        publish_all(own_broker.port, stream.messages[half:])
        assert_exactly_once(private_pg.url, stream)
    finally:
        assert ingest.stop() == 0, ingest.output()


def test_sigterm_flushes_the_buffer_before_exit(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    prefix = f"TERM{uuid.uuid4().hex[:6].upper()}"
    with psycopg.connect(private_pg.url) as conn:
        conn.execute("INSERT INTO devices (id, kind) VALUES (%s, 'flood_gauge')", (prefix + "-1",))
    env = settings_env(
        private_pg.url,
        own_broker.port,
        ingest_client_id=f"rel-term-{prefix}",
        ingest_batch_size="100000",
        ingest_batch_max_age_ms="60000",  # nothing is written until the batch is flushed
        ingest_prune_interval_s="0",
    )
    ingest = Proc(["ingest"], env, tmp_path / "ingest.log")
    ingest.wait_for(r"subscribed to ")
    now = datetime.now(UTC).replace(microsecond=0)
    topic = Topics().telemetry("flood_gauge", prefix + "-1")
    messages = [
        (topic, json.dumps({"ts": (now - timedelta(seconds=i)).isoformat(), "rain": 1.0}).encode())
        for i in range(300)
    ]
    publish_all(own_broker.port, messages)
    time.sleep(1.0)
    assert stored(private_pg.url, prefix)[0] == 0, "the batch must still be buffered"
    assert ingest.stop() == 0, ingest.output()
    assert stored(private_pg.url, prefix)[0] == 300


def test_database_outage_holds_at_most_receive_maximum_and_broker_queues_the_rest(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    stream = make_stream(private_pg.url)
    port = free_port()
    env = settings_env(
        private_pg.url,
        own_broker.port,
        ingest_client_id=f"rel-bound-{uuid.uuid4().hex[:6]}",
        ingest_receive_maximum="100",
        ingest_batch_size="40",
        ingest_metrics_port=str(port),
        ingest_prune_interval_s="0",
    )
    ingest = Proc(["ingest"], env, tmp_path / "ingest.log")
    try:
        ingest.wait_for(r"subscribed to ")
        private_pg.server.stop("fast")
        publish_all(own_broker.port, stream.messages)  # 2,500 messages while the DB is down
        time.sleep(2.0)
        m = scrape(port)
        assert m["citysense_ingest_database_up"] == 0
        # more than one batch arrived, but never more than receive-maximum
        assert 40 < m["citysense_ingest_buffer_messages"] <= 100
        private_pg.server.start()
        assert_exactly_once(private_pg.url, stream)
        assert scrape(port)["citysense_ingest_database_up"] == 1
    finally:
        if not private_pg.server.datadir.joinpath("postmaster.pid").exists():
            private_pg.server.start()
        assert ingest.stop() == 0, ingest.output()


def scrape(port: int) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {k: float(v) for k, _, v in (ln.rpartition(" ") for ln in lines if ln and ln[0] != "#")}


def test_ingest_resubscribes_when_the_broker_comes_back_without_its_sessions(
    private_pg: PrivatePg, own_broker: LocalMosquitto, tmp_path: Path
) -> None:
    stream = make_stream(private_pg.url)
    ingest = start_ingest(
        private_pg.url, own_broker, f"rel-fresh-{uuid.uuid4().hex[:6]}", tmp_path / "ingest.log"
    )
    try:
        own_broker.stop()
        shutil.rmtree(own_broker.workdir / "data")  # a replaced broker: no sessions at all
        own_broker.start()
        ingest.wait_for(r"connected to broker(.|\n)*connected to broker", timeout=60)
        time.sleep(0.5)
        publish_all(own_broker.port, stream.messages[:100])
        wait_count(private_pg.url, stream.prefix, 100 * PER_MESSAGE, 30)
    finally:
        assert ingest.stop() == 0, ingest.output()
