"""Run the operations process (alert evaluator, rollups) in-process, and publish readings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from alerts.config import AlertConfig
from alerts.notify import Notifier
from alerts.service import OperationsService
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow, upsert_devices
from core.wire import Topics
from tests.support.mqtt import publish_all


class Clock:
    """Real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@asynccontextmanager
async def running_operations(
    settings: Settings,
    pool: asyncpg.Pool,
    kinds: KindRegistry,
    config: AlertConfig,
    *,
    clock: Clock | None = None,
    notifiers: list[Notifier] | None = [],  # noqa: B006 - None: the config's (webhook)
) -> AsyncIterator[OperationsService]:
    service = OperationsService(
        settings.database_url,
        pool,
        kinds,
        config,
        notifiers=notifiers,
        clock=clock or Clock(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await asyncio.wait_for(service.ready.wait(), 15)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def register(
    pool: asyncpg.Pool, kind: str, ids: list[str], district: str = "Muara Enim"
) -> None:
    await upsert_devices(
        pool, [DeviceRow(d, kind, f"name {d}", "active", district, -3.66, 103.8) for d in ids]
    )


async def publish(
    settings: Settings, kind: str, device_id: str, readings: list[dict[str, Any]]
) -> None:
    """Publish readings as the device would: one message per reading, QoS 1."""
    topic = Topics().telemetry(kind, device_id)
    msgs = [(topic, json.dumps(r, default=str).encode()) for r in readings]
    await asyncio.to_thread(publish_all, settings.mqtt_port, msgs)


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()
