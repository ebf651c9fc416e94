"""``citysense up`` runs the alert evaluator too, and registers its demo fleet with the
registry details alerts read (gauge thresholds, light feeders, uplinks): the demo's drill
gauge opens a flood alert that the API (and so the /ops page) shows; with flood alarms
listed in ``work_order_rules`` the work-order watcher ``up`` runs opens an order for it by
itself; then everything stops."""

from __future__ import annotations

import re
import shutil
import signal
import sys
import time
import uuid
from typing import Any

import httpx
import psycopg

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.postgres import scratch_dir
from tests.support.services import scratch_database
from tests.support.up import UpProcess, clean_env, leftovers


def _poll(url: str, ok: Any, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    body: Any = None
    while time.monotonic() < deadline:
        r = httpx.get(url, timeout=5)
        if r.status_code == 200:
            body = r.json()
            if ok(body):
                return body
        time.sleep(0.5)
    raise AssertionError(f"{url}: not as expected within {within}s: {body}")


def test_up_evaluates_alerts_for_its_registered_demo_fleet_and_stops_cleanly(
    pg_server_url: str, broker: LocalMosquitto
) -> None:
    home = scratch_dir("citysense-up-alerts-")
    with scratch_database(pg_server_url, prefix="citysense_up_alerts") as db:
        env = clean_env(
            home,
            CITYSENSE_DATABASE_URL=db,
            CITYSENSE_MQTT_HOST="127.0.0.1",
            CITYSENSE_MQTT_PORT=str(broker.port),
            CITYSENSE_INGEST_CLIENT_ID=f"up-{uuid.uuid4().hex[:8]}",
        )
        argv = [sys.executable, "-m", "citysense.cli", "up", "--interval", "1"]
        up = UpProcess(argv, env, home, home / "up.log")
        try:
            url = up.wait_url(60)
            m = re.search(r"(\S+): demo drill", up.output())
            assert m, up.output()
            drill = m.group(1)
            gauge = httpx.get(f"{url}/devices/{drill}", timeout=10).json()
            assert gauge["waspada_cm"] < 300, "the drill gauge has its own, low thresholds"

            [alert] = _poll(
                f"{url}/alerts?rule=flood_level&device={drill}&status=open", lambda a: len(a) == 1
            )
            assert alert["details"]["threshold"] >= gauge["waspada_cm"]
            assert alert["details"]["level"] in ("WASPADA", "SIAGA", "AWAS")
            assert alert["level"] == alert["details"]["level"]
            assert alert["priority"] in ("urgent", "high", "medium")
            assert "WIB" in alert["message"], alert["message"]
            timeline = httpx.get(f"{url}/alerts/{alert['id']}", timeout=10).json()["timeline"]
            assert timeline[0]["event"] == "raise"
            states = _poll(
                f"{url}/state?kind=flood_gauge",
                lambda s: any(d["device_id"] == drill and d["level"] for d in s),
            )
            assert {d["device_id"]: d["level"] for d in states}[drill] != "NORMAL"

            # The work-order watcher runs here too: a rule listed as data opens an order.
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO work_order_rules (rule, priority) VALUES ('flood_level', 'high')"
                    " ON CONFLICT (rule) DO UPDATE SET enabled = true"
                )
            orders = _poll(
                f"{url}/work-orders",
                lambda os: any(o["alert_id"] == alert["id"] for o in os),
                within=45,
            )
            [order] = [o for o in orders if o["alert_id"] == alert["id"]]
            assert order["status"] == "open", order
            assert order["device_id"] == drill

            # The rest of the fleet carries what the rules need, from the registry.
            light = httpx.get(f"{url}/devices?kind=streetlight", timeout=10).json()
            items = light["items"] if isinstance(light, dict) else light
            assert all(d["mounting"].get("feeder") for d in items), items
            assert all(d["uplink_id"] for d in items), items
        finally:
            code = up.interrupt(sig=signal.SIGINT)
        try:
            assert code == 0, up.output()
            assert "Traceback" not in up.output()
            time.sleep(0.5)
            assert leftovers(up.popen.pid, str(home)) == []
        finally:
            shutil.rmtree(home, ignore_errors=True)
