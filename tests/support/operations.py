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
from alerts.policy import priority_of
from alerts.service import OperationsService
from alerts.vocabulary import SEVERITY_OF, FloodLevel, Rule
from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.alerts import Alert, Change, clear_active, raise_alert
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


async def open_alert(
    pool: asyncpg.Pool,
    rule: Rule,
    subject: str,
    *,
    device_id: str | None = None,
    level: FloodLevel | None = None,
    message: str = "",
    details: dict[str, Any] | None = None,
    value: float | None = None,
) -> tuple[Alert, Change]:
    """Raise an alert directly (as the evaluator's sink would), priority from the policy."""
    priority, rank = priority_of(rule, level=level)
    async with pool.acquire() as conn, conn.transaction():
        return await raise_alert(
            conn,
            rule=rule,
            subject=subject,
            device_id=device_id,
            priority=priority,
            severity=SEVERITY_OF[priority],
            rank=rank,
            message=message or f"{subject}: {rule}",
            message_en=message or f"{subject}: {rule}",
            details=details or {},
            level=level,
            value=value,
            observed_at=datetime.now(UTC) if value is not None else None,
        )


async def close_alert(
    pool: asyncpg.Pool, rule: Rule, subject: str, note: str = "ok"
) -> Alert | None:
    """Resolve the standing (rule, subject) alert, as the evaluator does when it clears."""
    async with pool.acquire() as conn, conn.transaction():
        return await clear_active(conn, rule=rule, subject=subject, note=note)
