"""Bulk registration: 10,000 devices from CSV, credentials included, target < 30 s.

Baseline in the same run: registering a sample one device at a time through the same
registry (one transaction and one broker-file rewrite each), as a technician's form does.
Both write the broker's password/ACL files, so credentials are hashed and published alike.
Writes ``bench/results/registry.json``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from core.kinds import builtin_kinds
from core.settings import load_settings
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from devices.importer import run_import
from devices.region import load_region
from devices.registry import Registry

BULK = int(os.environ.get("CITYSENSE_BENCH_DEVICES", "10000"))
SAMPLE = int(os.environ.get("CITYSENSE_BENCH_SAMPLE", "200"))
TARGET_S = 30.0
RESULTS = Path(__file__).parent / "results" / "registry.json"


def _csv(prefix: str, n: int) -> bytes:
    region = load_region()
    rng = random.Random(5)
    lines = ["id,kind,name,district,village,latitude,longitude,status,pole_number,feeder"]
    for i in range(n):
        d = rng.choice(region.districts)
        lines.append(
            f"{prefix}-{i:05d},streetlight,PJU {i},{d.name},Desa {i % 97},"
            f"{d.lat + rng.uniform(-0.01, 0.01):.6f},{d.lon + rng.uniform(-0.01, 0.01):.6f},"
            f"installed,P-{i},F-{i % 12}"
        )
    return ("\n".join(lines) + "\n").encode()


async def _run(url: str, auth_dir: str) -> dict[str, object]:
    settings = load_settings(database_url=url, broker_auth_dir=auth_dir)
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        registry = Registry(pool, settings, builtin_kinds(), load_region())
        region = load_region()
        t0 = time.perf_counter()
        for i in range(SAMPLE):
            d = region.districts[i % len(region.districts)]
            await registry.register(
                {
                    "id": f"ONE-{i:05d}",
                    "kind": "streetlight",
                    "district": d.name,
                    "latitude": d.lat,
                    "longitude": d.lon,
                    "status": "installed",
                    "pole_number": f"P-{i}",
                },
                actor="bench",
            )
        one_s = time.perf_counter() - t0

        data = _csv("BULK", BULK)
        t0 = time.perf_counter()
        result = await run_import(registry, data, actor="bench", import_good=False, batch="bench")
        bulk_s = time.perf_counter() - t0
        if result.imported != BULK or result.errors:
            raise RuntimeError(f"bulk import failed: {result.message}")
        passwd = Path(auth_dir) / "passwd"
        lines = passwd.read_text().count("\n")
        if lines != BULK + SAMPLE:
            raise RuntimeError(f"broker password file has {lines} accounts")
    finally:
        await pool.close()
    one_rate = SAMPLE / one_s
    bulk_rate = BULK / bulk_s
    return {
        "benchmark": "registry bulk import",
        "devices": BULK,
        "bulk_seconds": round(bulk_s, 3),
        "bulk_devices_per_s": round(bulk_rate, 1),
        "target_seconds": TARGET_S,
        "meets_target": bulk_s < TARGET_S,
        "baseline": "one-by-one registration (own transaction + broker file rewrite each)",
        "baseline_sample": SAMPLE,
        "baseline_devices_per_s": round(one_rate, 1),
        "baseline_projected_seconds_for_bulk": round(BULK / one_rate, 1),
        "speedup": round(bulk_rate / one_rate, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
    }


def main() -> int:
    logging.getLogger("devices.broker_auth").setLevel(logging.ERROR)  # no broker to reload
    server = os.environ.get(
        "CITYSENSE_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"citysense_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    auth_dir = tempfile.mkdtemp(prefix="citysense-bench-auth-")
    try:
        migrate(url, retention_days=730)
        out = asyncio.run(_run(url, auth_dir))
    finally:
        shutil.rmtree(auth_dir, ignore_errors=True)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"bulk import: {out['devices']} devices in {out['bulk_seconds']} s"
        f" = {out['bulk_devices_per_s']} devices/s (target < {TARGET_S:.0f} s:"
        f" {'met' if out['meets_target'] else 'MISSED'})\n"
        f"baseline one-by-one: {out['baseline_devices_per_s']} devices/s"
        f" (x{out['speedup']} faster in bulk; one-by-one would take"
        f" {out['baseline_projected_seconds_for_bulk']} s)\n-> {RESULTS}"
    )
    return 0 if out["meets_target"] else 1
