"""``citysense alerts``: evaluate alert rules, send notifications, keep rollups current."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from pydantic import ValidationError

from citysense.commands import UsageError
from core.kinds import KindRegistry
from core.settings import Settings

log = logging.getLogger("citysense.alerts")


def cmd_alerts(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from alerts.config import load_config
    from alerts.service import OperationsService
    from core.storage.pool import create_pool

    try:
        config = load_config(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        raise UsageError(f"alert configuration {args.config}: {exc}") from exc
    if args.check:
        print(config.model_dump_json(indent=2))
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            service = OperationsService(settings.database_url, pool, kinds, config)
            await service.run(stop)
            log.info("alerts stopped: %s", service.evaluator.stats)
        finally:
            await pool.close()

    asyncio.run(main())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts", help="evaluate alert rules, notify, and keep hourly rollups current"
    )
    p.add_argument("--config", type=Path, default=None, help="alert rules/thresholds (JSON)")
    p.add_argument("--check", action="store_true", help="print the effective config and exit")
    p.set_defaults(func=cmd_alerts)
