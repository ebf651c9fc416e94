"""``python -m bench chaos``: the delivery guarantee under scripted faults.

A private Mosquitto (Citysense's configuration), a private PostgreSQL and the real
``citysense ingest`` process; two groups of devices publish continuously from their own
MQTT clients (``tests.support.traffic``): contract devices (store-and-forward on the
``stored`` watermark) and plain devices (forget a reading once the broker acknowledged it).
Each fault lands 2-4 s into a fresh stream, nothing waits for anything to come back, and
afterwards the stream is stopped and counted:

- published, broker-acknowledged, stored, lost (contract: published but not stored;
  plain: acknowledged but not stored), duplicated (stored twice, or stored but never sent);
- recovery_s: from the broken part being started again until everything the contract
  devices had published by then is stored.

Writes ``bench/results/chaos.json``: top-level ``lost`` and ``duplicated`` (contract
devices, all faults), ``plain_lost``, and ``faults`` with each fault's figures.
Target: lost 0 and duplicated 0 for contract devices in every fault; recovery within 5 s.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citysense.local.mosquitto import LocalMosquitto
from citysense.local.ports import free_port
from citysense.local.postgres import scratch_dir
from tests.support.faults import FAULTS, Rig
from tests.support.private_pg import private_postgres
from tests.support.traffic import Traffic, settle, stored_count

RATE = float(os.environ.get("CITYSENSE_BENCH_CHAOS_RATE", "1000"))
"""Readings per second, half from contract devices, half from plain ones."""
RESULTS = Path(__file__).parent / "results" / "chaos.json"


def recovery(url: str, traffic: Traffic, published: int, timeout: float = 60) -> float | None:
    """Seconds until the contract devices' first ``published`` readings are all stored."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if stored_count(url, traffic.contract) >= published:
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    return None


def one_fault(rig: Rig, name: str) -> dict[str, Any]:
    traffic = Traffic(rig.broker.port, rate=RATE)
    traffic.register(rig.pg.url)
    traffic.start()
    try:
        time.sleep(random.uniform(2.0, 4.0))
        started = time.monotonic()
        FAULTS[name](rig)
        down_s = round(time.monotonic() - started, 2)
        at_return = traffic.contract.published
        recovered = recovery(rig.pg.url, traffic, at_return)
        time.sleep(2.0)  # full rate again, through the same devices
        result = settle(rig.pg.url, traffic)
    finally:
        traffic.close()
    return {
        "fault": name,
        "fault_s": down_s,
        "recovery_s": recovered,
        "settle_s": result.settle_s,
        **result.as_dict(),
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="citysense-bench-chaos-"))
    mqtt_dir = scratch_dir("citysense-mqtt-")  # reachable by the 'mosquitto' user
    faults: list[dict[str, Any]] = []
    with private_postgres() as pg:
        broker = LocalMosquitto(mqtt_dir, free_port())
        broker.start()
        rig = Rig(pg, broker, work)
        rig.start_ingest(wait=True)
        try:
            for name in FAULTS:
                print(f"{name} ...", flush=True)
                f = one_fault(rig, name)
                faults.append(f)
                c, p = f["contract"], f["plain"]
                print(
                    f"  contract: published {c['published']}, stored {c['stored']},"
                    f" lost {c['lost']}, duplicated {c['duplicated']} | plain: acked"
                    f" {p['acked']}, stored {p['stored']}, lost {p['lost']} | recovery"
                    f" {f['recovery_s']} s",
                    flush=True,
                )
        finally:
            code = rig.stop()
            broker.stop()
            shutil.rmtree(mqtt_dir, ignore_errors=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cpus",
        "rate_readings_per_s": RATE,
        "lost": sum(f["contract"]["lost"] for f in faults),
        "duplicated": sum(f["contract"]["duplicated"] for f in faults),
        "plain_lost": sum(f["plain"]["lost"] for f in faults),
        "plain_duplicated": sum(f["plain"]["duplicated"] for f in faults),
        "ingest_exit_code": code,
        "faults": faults,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"contract devices: lost {report['lost']}, duplicated {report['duplicated']};"
        f" plain devices: lost {report['plain_lost']} -> {RESULTS}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if report["lost"] == 0 and report["duplicated"] == 0 and code == 0 else 1
