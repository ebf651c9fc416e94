"""The demo fleet: simulated Muara Enim devices publishing over the real wire contract.

Everything ``citysense up`` needs from :mod:`simulators` goes through :func:`start_demo`,
so the simulators can change behind this one function.
"""

from __future__ import annotations

import threading

import asyncpg

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import upsert_devices


async def start_demo(
    settings: Settings,
    kinds: KindRegistry,
    pool: asyncpg.Pool,
    stop: threading.Event,
    *,
    per_kind: int,
    interval_s: float,
) -> tuple[threading.Thread, list[str]]:
    """Register the fleet, then publish from a thread until ``stop``; returns (thread, ids)."""
    from simulators.fleet import build_fleet
    from simulators.publisher import run

    fleet = build_fleet(kinds, per_kind, seed=1)
    await upsert_devices(pool, fleet)
    thread = threading.Thread(
        target=run,
        args=(settings, kinds, fleet),
        kwargs={"interval_s": interval_s, "rounds": None, "seed": 1, "stop": stop},
        name="citysense-demo",
        daemon=True,
    )
    thread.start()
    return thread, [d.id for d in fleet]
