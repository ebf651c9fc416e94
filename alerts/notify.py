"""Notifications: a :class:`Notifier` per channel, a dispatcher that retries with backoff.

A webhook ships out of the box. E-mail, an SMS gateway or a Telegram/WhatsApp bot is one
class with ``name`` and ``async send(notification)``; raise to have it retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notification:
    event: str
    """opened, escalated or resolved."""
    alert: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "alert": self.alert}


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> None: ...


class WebhookNotifier:
    """POSTs ``{"event": ..., "alert": {...}}`` as JSON; any non-2xx answer is a failure."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.name = f"webhook {url}"
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, notification: Notification) -> None:
        r = await self._client.post(self._url, json=notification.as_json())
        r.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class DispatchStats:
    sent: int = 0
    retries: int = 0
    failed: int = 0


class Dispatcher:
    """Queues notifications and delivers each to every notifier, retrying failures."""

    def __init__(
        self, notifiers: list[Notifier], *, attempts: int = 5, backoff_s: float = 1.0
    ) -> None:
        self.notifiers = notifiers
        self.stats = DispatchStats()
        self._attempts = attempts
        self._backoff = backoff_s
        self._queue: asyncio.Queue[Notification] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def submit(self, notification: Notification) -> None:
        if self.notifiers:
            self._queue.put_nowait(notification)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def drain(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for n in self.notifiers:
            close = getattr(n, "close", None)
            if close is not None:
                await close()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await asyncio.gather(*(self._deliver(n, item) for n in self.notifiers))
            finally:
                self._queue.task_done()

    async def _deliver(self, notifier: Notifier, item: Notification) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await notifier.send(item)
                self.stats.sent += 1
                return
            except Exception as exc:  # any failure of a channel is retried, never fatal
                if attempt == self._attempts:
                    self.stats.failed += 1
                    log.error(
                        "%s: giving up on alert %s after %d attempts: %s",
                        notifier.name,
                        item.alert.get("id"),
                        attempt,
                        exc,
                    )
                    return
                self.stats.retries += 1
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
