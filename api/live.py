"""The live event hub: one LISTEN connection per API process, a ring buffer of recent
events with monotonic ids, and wake-ups for Server-Sent Events clients.

Ids start at the process's start time in microseconds and count up, so an id from before a
restart is older than anything in the buffer and the client is told to reload (``reset``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.storage.events import CHANNEL, decode_notification

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    type: str
    """reading, state, alert or reset."""
    device_id: str | None
    kind: str | None
    data: str


_FIELDS = ("device_id", "kind", "time", "received_at", "values")


class EventHub:
    def __init__(self, dsn: str, capacity: int = 20_000) -> None:
        self._dsn = dsn
        self._buffer: deque[LiveEvent] = deque(maxlen=capacity)
        self._next = int(time.time() * 1_000_000)
        self._changed = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None

    @property
    def last_id(self) -> int:
        return self._next - 1

    def backend_pid(self) -> int | None:
        """The PostgreSQL backend holding the LISTEN (operators can spot it)."""
        return None if self._conn is None else self._conn.get_server_pid()

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)
        self._conn.add_termination_listener(self._on_lost)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    def _on_lost(self, conn: object) -> None:
        if not self._closing:
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = 0.5
        while not self._closing:
            try:
                await self.start()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("live: reconnect failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            # Notifications sent while we were away are lost: tell clients to reload.
            self.publish("reset", None, None, {"reason": "event source reconnected"})
            return

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        try:
            kind, items = decode_notification(str(payload))
            for it in items:
                if kind == "readings":
                    data = {k: it.get(k) for k in _FIELDS}
                    self.publish("reading", it["device_id"], it["kind"], data)
                elif kind in ("alert", "state"):
                    self.publish(kind, it.get("device_id"), it.get("kind"), it)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("live: ignoring malformed notification: %s", exc)

    def publish(self, type_: str, device_id: str | None, kind: str | None, data: Any) -> LiveEvent:
        ev = LiveEvent(self._next, type_, device_id, kind, json.dumps(data, default=str))
        self._next += 1
        self._buffer.append(ev)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return ev

    def since(self, last_id: int) -> list[LiveEvent] | None:
        """Events after ``last_id``; None when it is older than the buffer (or unknown)."""
        if last_id > self.last_id:
            return None
        oldest = self._buffer[0].id if self._buffer else self._next
        if last_id < oldest - 1:
            return None
        return [e for e in self._buffer if e.id > last_id]

    async def wait_after(self, last_id: int, wait_s: float) -> list[LiveEvent] | None:
        """Events after ``last_id``, waiting up to ``wait_s`` for one; None if overrun."""
        waiter = self._changed
        got = self.since(last_id)
        if got is None or got:
            return got
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), wait_s)
        return self.since(last_id)
