"""The ``citysense`` command: the composition root that builds settings, pools and clients."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from pydantic import ValidationError

from core.kinds import KindRegistry, builtin_kinds
from core.settings import Settings, load_settings

log = logging.getLogger("citysense")


class UsageError(Exception):
    """An expected failure: reported as one line, without a traceback."""


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def cmd_db_migrate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.migrate import migrate

    result = migrate(settings.database_url, retention_days=settings.retention_days)
    applied = ", ".join(f"{v:04d}" for v in result.applied) or "none (up to date)"
    print(f"storage path: {result.storage_path}; migrations applied: {applied}")
    return 0


def cmd_db_kind_sql(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.ddl import readings_table_sql

    if args.kind not in kinds:
        raise UsageError(f"unknown kind {args.kind!r}; known: {', '.join(kinds)}")
    print(readings_table_sql(kinds[args.kind]), end="")
    return 0


def _install_stop(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def cmd_ingest(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.pool import create_pool
    from ingest.service import IngestService

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop(asyncio.get_running_loop(), stop)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            service = IngestService(settings, pool, kinds)
            await service.run(stop)
            log.info("ingest stopped: %s", service.stats)
        finally:
            await pool.close()

    asyncio.run(main())
    return 0


def cmd_api(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    app = create_app(settings, kinds)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")
    return 0


def cmd_simulate(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.devices import upsert_devices
    from core.storage.pool import create_pool
    from simulators.fleet import build_fleet
    from simulators.publisher import run

    try:
        fleet = build_fleet(kinds, args.per_kind, args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    async def register() -> None:
        pool = await create_pool(settings.database_url)
        try:
            await upsert_devices(pool, fleet)
        finally:
            await pool.close()

    asyncio.run(register())
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


def cmd_broker_config(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from citysense.local.mosquitto import QueueSizing, broker_config

    sys.stdout.write(
        broker_config(
            port=args.port,
            bind=args.bind,
            persistence_dir=args.persistence_dir,
            sizing=QueueSizing(normal_rate=args.rate, outage_s=args.outage),
            allow_anonymous=not args.no_anonymous,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="citysense", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_db_migrate)
    ks = db.add_parser("kind-sql", help="print the readings-table DDL of a kind")
    ks.add_argument("kind")
    ks.set_defaults(func=cmd_db_kind_sql)

    sub.add_parser("ingest", help="consume MQTT telemetry into the database").set_defaults(
        func=cmd_ingest
    )
    sub.add_parser("api", help="serve the HTTP API").set_defaults(func=cmd_api)

    sim = sub.add_parser("simulate", help="register and run simulated devices")
    sim.add_argument("--per-kind", type=int, default=3, help="devices of each kind")
    sim.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    sim.add_argument("--rounds", type=int, default=None, help="stop after N rounds")
    sim.add_argument("--seed", type=int, default=1)
    sim.set_defaults(func=cmd_simulate)

    broker = sub.add_parser("broker", help="MQTT broker helpers").add_subparsers(
        dest="broker_command", required=True
    )
    bc = broker.add_parser("config", help="print the Mosquitto configuration ingest relies on")
    bc.add_argument("--port", type=int, default=1883)
    bc.add_argument("--bind", default="0.0.0.0")
    bc.add_argument("--persistence-dir", default="/mosquitto/data/")
    bc.add_argument("--rate", type=float, default=100.0, help="normal messages/s to size for")
    bc.add_argument("--outage", type=int, default=3600, help="ingest outage to survive, s")
    bc.add_argument("--no-anonymous", action="store_true")
    bc.set_defaults(func=cmd_broker_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"citysense: invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(settings, builtin_kinds(), args)
        return code
    except UsageError as exc:
        print(f"citysense: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
