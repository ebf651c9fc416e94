from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from core.kinds import KindRegistry
from core.settings import Settings

log = logging.getLogger("citysense.ingest")


def cmd_ingest(settings: Settings, kinds: KindRegistry, args: argparse.Namespace) -> int:
    from core.storage.pool import create_pool
    from ingest.service import IngestService

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        pool = await create_pool(settings.database_url, min_size=1, max_size=4)
        try:
            service = IngestService(settings, pool, kinds)
            await service.run(stop)
            log.info("ingest stopped: %s", service.stats)
        finally:
            await pool.close()

    asyncio.run(main())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("ingest", help="consume MQTT telemetry into the database").set_defaults(
        func=cmd_ingest
    )
