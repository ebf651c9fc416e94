"""The ingest service: MQTT (paho, network thread) -> batches -> PostgreSQL (asyncpg).

Delivery is at-least-once: messages arrive with QoS 1 on a persistent session, and each
is acknowledged to the broker only after the transaction holding it has committed.
Writes are idempotent on (device, time), so redeliveries create no duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.batches import write_batch
from core.storage.dead_letters import DeadLetter
from core.storage.devices import DeviceRow, devices_by_id
from core.wire import DecodeLimits, Topics
from ingest.router import Incoming, device_ids, route

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0


class DeviceCache:
    """Device rows by id, refreshed after ``ttl`` so registrations and status changes show up."""

    def __init__(self, pool: asyncpg.Pool, ttl: float) -> None:
        self._pool = pool
        self._ttl = ttl
        self._rows: dict[str, tuple[float, DeviceRow | None]] = {}

    async def lookup(self, ids: list[str]) -> dict[str, DeviceRow]:
        now = time.monotonic()
        stale = [i for i in ids if i not in self._rows or self._rows[i][0] < now]
        if stale:
            found = await devices_by_id(self._pool, stale)
            for i in stale:
                self._rows[i] = (now + self._ttl, found.get(i))
        return {i: row for i in ids if (row := self._rows[i][1]) is not None}


class IngestService:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        *,
        client_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._kinds = kinds
        self._clock = clock
        self._client_id = client_id or settings.ingest_client_id
        self._topics = Topics(settings.topic_root)
        self._limits = DecodeLimits(
            max_payload_bytes=settings.ingest_max_payload_bytes,
            max_future=timedelta(seconds=settings.ingest_max_future_s),
            max_age=timedelta(days=settings.retention_days),
        )
        self._devices = DeviceCache(pool, ttl=2.0)
        self._inbox: deque[Incoming] = deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = IngestStats()
        self.subscribed = asyncio.Event()

    # -- MQTT side (paho's network thread) ---------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        s = self._settings
        if s.mqtt_username:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            client.username_pw_set(s.mqtt_username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        # Subscribe on every connect (a broker restart may have lost the session).
        client.subscribe(self._topics.telemetry_filter(), qos=1)
        log.info("connected to broker, session_present=%s", flags.session_present)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("broker refused the subscription: %s", reason_codes)
            return
        log.info("subscribed to %s", self._topics.telemetry_filter())
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        log.warning("disconnected from broker: %s", reason)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.subscribed.clear)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._inbox.append(Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos))
        n = len(self._inbox)
        assert self._loop is not None
        if n == 1:
            self._loop.call_soon_threadsafe(self._wake.set)
        if n == self._settings.ingest_batch_size:
            self._loop.call_soon_threadsafe(self._full.set)

    # -- batching side (asyncio) -------------------------------------------------------

    async def _next_batch(self, stop: asyncio.Event) -> list[Incoming]:
        if not self._inbox:
            self._wake.clear()
            if not self._inbox:
                stopping = asyncio.ensure_future(stop.wait())
                waking = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({stopping, waking}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                waking.cancel()
        if not self._inbox:
            return []
        if len(self._inbox) < self._settings.ingest_batch_size and not stop.is_set():
            self._full.clear()
            if len(self._inbox) < self._settings.ingest_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._full.wait(), self._settings.ingest_batch_max_age_ms / 1000
                    )
        batch = []
        for _ in range(min(len(self._inbox), self._settings.ingest_batch_size)):
            batch.append(self._inbox.popleft())
        return batch

    async def _commit(self, batch: list[Incoming]) -> None:
        now = self._clock()
        devices = await self._devices.lookup(device_ids(self._topics, batch))
        routed = route(
            batch,
            topics=self._topics,
            kinds=self._kinds,
            devices=devices,
            limits=self._limits,
            now=now,
        )
        try:
            result = await write_batch(
                self._pool, self._kinds, routed.readings, routed.dead_letters, now
            )
        except asyncpg.PostgresError as exc:
            if isinstance(exc, _CONNECTION_ERRORS):
                raise
            # A batch the database refuses must not block the stream: keep the reason
            # with every message of it, verbatim, where an operator can see it.
            log.exception("database refused a batch; dead-lettering its %d messages", len(batch))
            letters = [
                DeadLetter(
                    now, m.topic, None, "storage_error", f"database refused: {exc}"[:500], m.payload
                )
                for m in batch
            ]
            result = await write_batch(self._pool, self._kinds, [], letters, now)
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.dead_letters += result.dead_letters
        self.stats.batches += 1

    async def _commit_with_retry(self, batch: list[Incoming]) -> None:
        delay = 0.2
        while True:
            try:
                await self._commit(batch)
                return
            except _CONNECTION_ERRORS as exc:
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then flush what was received and disconnect."""
        self._loop = asyncio.get_running_loop()
        client = self._make_client()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 7 * 24 * 3600
        props.ReceiveMaximum = min(65535, max(self._settings.ingest_batch_size * 4, 100))
        client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=props,
        )
        client.loop_start()
        try:
            while True:
                batch = await self._next_batch(stop)
                if batch:
                    self.stats.received += len(batch)
                    await self._commit_with_retry(batch)
                    for m in batch:
                        if m.qos > 0:
                            client.ack(m.mid, m.qos)
                elif stop.is_set():
                    break
        finally:
            client.disconnect()
            client.loop_stop()
