from __future__ import annotations

import argparse
import asyncio
import signal
import threading

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings


def cmd_simulate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.devices import upsert_devices
    from core.storage.pool import create_pool
    from simulators.fleet import build_fleet
    from simulators.publisher import run

    try:
        fleet = build_fleet(kinds, args.per_kind, args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    async def register_fleet() -> None:
        pool = await create_pool(settings.database_url)
        try:
            await upsert_devices(pool, fleet)
        finally:
            await pool.close()

    asyncio.run(register_fleet())
    print(f"registered {len(fleet)} simulated devices", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sent = run(
        settings,
        kinds,
        fleet,
        interval_s=args.interval,
        rounds=args.rounds,
        seed=args.seed,
        stop=stop,
    )
    print(f"published {sent} messages", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("simulate", help="register and run simulated devices")
    sim.add_argument("--per-kind", type=int, default=3, help="devices of each kind")
    sim.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    sim.add_argument("--rounds", type=int, default=None, help="stop after N rounds")
    sim.add_argument("--seed", type=int, default=1)
    sim.set_defaults(func=cmd_simulate)
