"""`citysense ingest --workers N`: a shared subscription split across processes, each with
its own metrics endpoint and JSON logs."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import psycopg

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from core.wire import Topics
from tests.support.mqtt import publish_all
from tests.support.procs import Proc, settings_env


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {k: float(v) for k, _, v in (ln.rpartition(" ") for ln in lines if ln and ln[0] != "#")}


def test_two_workers_split_the_stream_and_store_it_once(
    database_url: str, broker: LocalMosquitto, tmp_path: Path, uid: str
) -> None:
    devices = [f"W{uid}-{i}" for i in range(50)]
    with psycopg.connect(database_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO devices (id, kind) VALUES (%s, 'streetlight')", [(d,) for d in devices]
        )
    port = free_port()
    env = settings_env(
        database_url,
        broker.port,
        ingest_client_id=f"workers-{uid}",
        ingest_metrics_port=str(port),
        ingest_prune_interval_s="0",
    )
    ingest = Proc(["ingest", "--workers", "2"], env, tmp_path / "ingest.log")
    try:
        ingest.wait_for(r"subscribed to (.|\n)*subscribed to ", timeout=60)
        t = Topics()
        now = datetime.now(UTC).replace(microsecond=0)
        messages = [
            (
                t.telemetry("streetlight", devices[i % 50]),
                json.dumps(
                    {"ts": (now - timedelta(seconds=i)).isoformat(), "dim_pct": 80.0}
                ).encode(),
            )
            for i in range(2000)
        ]
        publish_all(broker.port, messages + messages[:300])  # 300 resent: stored once
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m0, m1 = metrics(port), metrics(port + 1)
            total = sum(
                m.get("citysense_ingest_readings_written_total", 0)
                + m.get("citysense_ingest_readings_duplicate_total", 0)
                for m in (m0, m1)
            )
            if total >= 2300:
                break
            time.sleep(0.1)
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM readings_streetlight WHERE device_id = ANY(%s)", (devices,)
            ).fetchone()
        assert row is not None
        assert row[0] == 2000
        for m in (m0, m1):
            assert m["citysense_ingest_messages_received_total"] > 0, "both workers get a share"
            assert m["citysense_ingest_broker_connected"] == 1
            assert "process_cpu_seconds_total" in m
        assert sum(m["citysense_ingest_readings_written_total"] for m in (m0, m1)) == 2000
        assert sum(m["citysense_ingest_readings_duplicate_total"] for m in (m0, m1)) == 300
    finally:
        assert ingest.stop() == 0, ingest.output()
    logs = [json.loads(line) for line in ingest.output().splitlines() if line.startswith("{")]
    assert {entry.get("worker") for entry in logs} >= {0, 1, "supervisor"}
    assert all({"ts", "level", "logger", "msg"} <= entry.keys() for entry in logs)
    assert any("client" in str(e) or e["msg"] == "connected to broker" for e in logs)


def test_workers_stop_when_their_supervisor_is_killed(
    database_url: str, broker: LocalMosquitto, tmp_path: Path, uid: str
) -> None:
    """SIGKILL leaves the supervisor no chance to stop them: the workers notice by themselves."""
    env = settings_env(
        database_url, broker.port, ingest_client_id=f"orphans-{uid}", ingest_prune_interval_s="0"
    )
    ingest = Proc(["ingest", "--workers", "2", "--log-format", "text"], env, tmp_path / "i.log")
    workers: list[psutil.Process] = []
    try:
        ingest.wait_for(r"subscribed to (.|\n)*subscribed to ", timeout=60)
        supervisor = psutil.Process(ingest.popen.pid)
        workers = [
            p for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert len(workers) == 2, [p.cmdline() for p in supervisor.children()]
        supervisor.kill()
        ingest.popen.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == [], f"workers still running after the supervisor died: {alive}"
        assert (
            ingest.output().count("is gone; stopping") + ingest.output().count("ingest stopped")
            >= 2
        ), ingest.output()[-2000:]
    finally:
        for p in workers:
            if p.is_running():
                p.kill()
        ingest.kill()
