"""Run the ingest service in-process, on the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from core.kinds import KindRegistry
from core.settings import Settings
from ingest.service import IngestService


@asynccontextmanager
async def running_ingest(
    settings: Settings, pool: asyncpg.Pool, kinds: KindRegistry
) -> AsyncIterator[IngestService]:
    service = IngestService(settings, pool, kinds)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await asyncio.wait_for(service.subscribed.wait(), 15)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
