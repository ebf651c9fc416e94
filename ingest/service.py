"""The ingest service: MQTT (paho, network thread) -> batches -> PostgreSQL (asyncpg).

Delivery is at-least-once: messages arrive with QoS 1 on a persistent session, and each
is acknowledged to the broker only after the transaction holding it has committed, and
only on the connection that delivered it (after a reconnect the broker redelivers the
rest). Writes are idempotent on (device, time), so redeliveries create no duplicates.

The buffer is bounded by MQTT 5 receive-maximum: the broker never has more than that many
unacknowledged messages out to this worker, so while the database is down ingest holds at
most that many, stops acknowledging, backs off and retries, and the broker queues the rest.
It is bounded in bytes too (INBOX_MAX_BYTES): when full, the network thread stops reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
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
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.broker_accounts import share_group as default_share_group
from core.kinds import KindRegistry
from core.mqtt_threads import guarded
from core.settings import Settings
from core.storage.batches import BatchResult, write_batch
from core.storage.dead_letters import DeadLetter
from core.storage.devices import DeviceRow, devices_by_id
from core.storage.errors import TRANSIENT, is_transient
from core.storage.maintenance import prune
from core.wire import DecodeLimits, Topics
from ingest.acks import ack_all
from ingest.buffered_client import BufferedClient, Publish
from ingest.dead_letter_quota import DeadLetterQuota
from ingest.metrics import IngestMetrics
from ingest.router import Incoming, Routed, device_ids, route
from ingest.watermarks import WatermarkPublisher

log = logging.getLogger(__name__)

PRUNE_RETRY: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *TRANSIENT)
"""A prune failing with these is tried again next time."""


SESSION_EXPIRY_S = 7 * 24 * 3600

REFUSED_FOR_GOOD = frozenset({0x85, 0x86, 0x87, 0x8A, 0x8C})
"""CONNACK reason codes no retry cures: client id not valid, bad user name or password,
not authorised, banned, bad authentication method (MQTT 3.1.1's 2, 4, 5 map to these)."""


class BrokerRefusedError(Exception):
    """The broker refused ingest's login for good: a setting must change, not a retry."""


PIPELINE_DEPTH = 2
"""Batches in flight at once: one in the database while the next is decoded."""
BATCH_MAX_BYTES = 4 * 1024 * 1024
"""A batch also closes at this much payload, so backlog arrays don't make huge transactions."""
INBOX_MAX_BYTES = 32 * 1024 * 1024
"""Payload bytes received but not yet taken into a batch. At this paho's network thread
stops reading (the broker keeps the rest, unacknowledged), so ingest holds at most this
plus PIPELINE_DEPTH batches of BATCH_MAX_BYTES, whatever the payload sizes."""


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    statuses: int = 0
    batches: int = 0
    retries: int = 0
    reconnects: int = 0


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
            if len(self._rows) > 200_000:  # random ids from a misbehaving publisher
                self._rows.clear()
            for i in stale:
                self._rows[i] = (now + self._ttl, found.get(i))
        return {i: row for i in ids if (row := self._rows[i][1]) is not None}


Subscription = tuple[str, SubscribeOptions]


def single_subscriptions(topics: Topics) -> list[Subscription]:
    """One worker: one plain filter over the whole root on the persistent session.

    Plain, not shared: Mosquitto keeps a persistent session's plain subscriptions across
    a restart (in its persistence file) and queues for them from the moment it is back,
    but forgets shared ones, so with ``$share`` every broker restart dropped whatever
    arrived before ingest re-subscribed. The whole root, so a message on any other topic
    under it is dead-lettered instead of vanishing; ``no_local`` keeps ingest's own
    watermark publishes from coming back to it.
    """
    return [(topics.everything_filter(), SubscribeOptions(qos=1, noLocal=True))]


def shared_subscriptions(topics: Topics, share_group: str, *, status: bool) -> list[Subscription]:
    """``--workers N``: the share group splits telemetry; worker 0 (``status``) also takes
    the retained statuses (MQTT 5 sends no retained messages to shared subscriptions) and
    the topics under the root of any depth but a device topic's, to dead-letter them."""
    qos1 = SubscribeOptions(qos=1)
    subs = [(f"$share/{share_group}/{topics.telemetry_filter()}", qos1)]
    if status:
        root = topics.root
        subs += [
            (f"{root}/+/+/status", qos1),
            (f"{root}/+", qos1),
            (f"{root}/+/+", qos1),
            (f"{root}/+/+/+/+/#", qos1),
        ]
    return subs


class IngestService:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        *,
        client_id: str | None = None,
        share_group: str | None = None,
        shared: bool = False,
        subscribe_status: bool = True,
        metrics: IngestMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._kinds = kinds
        self._clock = clock
        self._client_id = client_id or settings.ingest_client_id
        self._topics = Topics(settings.topic_root)
        if shared:
            if share_group is None:
                share_group = default_share_group(settings)
            # A share name may not contain topic separators or wildcards.
            group = re.sub(r"[/+#]", "_", share_group)
            self._subscriptions = shared_subscriptions(self._topics, group, status=subscribe_status)
        else:
            self._subscriptions = single_subscriptions(self._topics)
        self.subscriptions = [f for f, _ in self._subscriptions]
        self.watermarks = WatermarkPublisher(self._topics)
        self._limits = DecodeLimits(
            max_payload_bytes=settings.ingest_max_payload_bytes,
            max_future=timedelta(seconds=settings.ingest_max_future_s),
            max_age=timedelta(days=settings.retention_days),
        )
        self._devices = DeviceCache(pool, ttl=2.0)
        self._quota = DeadLetterQuota(settings.ingest_dead_letter_quota)
        self._inbox: deque[Incoming] = deque()
        self._inbox_bytes = 0
        self._room = threading.Condition()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._accepting = True
        self.metrics = metrics or IngestMetrics()
        self.stats = IngestStats()
        self.subscribed = asyncio.Event()
        self.refused: str | None = None
        self._refused = asyncio.Event()

    @property
    def buffered_bytes(self) -> int:
        """Payload bytes received and not yet taken into a batch (at most INBOX_MAX_BYTES)."""
        return self._inbox_bytes

    # -- MQTT side (paho's network thread) ---------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = BufferedClient(
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
        # On paho's thread: guarded, so that a raising callback costs what it was doing,
        # not the thread (which would end, and ingest would receive nothing more).
        client.on_connect = guarded("ingest", self._on_connect)
        client.on_disconnect = guarded("ingest", self._on_disconnect)
        client.on_message = guarded("ingest", self._on_message)
        client.on_publishes = guarded("ingest", self._on_publishes)
        client.on_subscribe = guarded("ingest", self._on_subscribe)
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
            if reason.value in REFUSED_FOR_GOOD:
                s = self._settings
                self.refused = (
                    f"the MQTT broker at {s.mqtt_host}:{s.mqtt_port} refused ingest's login"
                    f" {s.mqtt_username or '(anonymous)'!r}: {reason}; set"
                    " CITYSENSE_MQTT_USERNAME / CITYSENSE_MQTT_PASSWORD to an account it accepts"
                )
                client.disconnect()  # stops paho's reconnect loop
                self._from_thread(self._refused.set)
            return
        self._generation += 1
        if self._generation > 1:
            self.stats.reconnects += 1
        self.metrics.broker_connected.set(1)
        # The broker may have had no subscription for us while we were away, and
        # session_present does not tell (Mosquitto #2934 keeps the session, drops the
        # queue): hold the watermarks after every connect. See WatermarkPublisher.hold.
        self.watermarks.hold(self._settings.ingest_watermark_hold_s)
        # Subscribe on every connect: a broker that lost its state has lost the session too.
        client.subscribe(self._subscriptions)
        log.info(
            "connected to broker",
            extra={"session_present": flags.session_present, "generation": self._generation},
        )

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
        log.info("subscribed to %s", " ".join(self.subscriptions))
        self._from_thread(self.subscribed.set)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.metrics.broker_connected.set(0)
        log.warning("disconnected from broker: %s", reason)
        self._from_thread(self.subscribed.clear)

    def _from_thread(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the service's loop, from paho's thread; not before the
        service runs, nor once its loop has closed at exit."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                self._loop.call_soon_threadsafe(callback)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        """paho's path, for messages the bulk path leaves to it (with properties, say)."""
        self._on_publishes([(msg._topic, bytes(msg.payload), msg.mid, msg.qos)])

    def _on_publishes(self, publishes: list[Publish]) -> None:
        generation = self._generation
        # Built before anything is counted: if this raises, nothing was taken (guarded()
        # logs it; the messages stay unacknowledged and come again with the next session).
        incoming = [
            Incoming(topic.decode("utf-8", "replace"), payload, mid, qos, generation)
            for topic, payload, mid, qos in publishes
        ]
        size = sum(len(p[1]) for p in publishes)
        with self._room:
            # Full: block the network thread (it stops reading the socket) until drained.
            while (
                self._inbox_bytes and self._inbox_bytes + size > INBOX_MAX_BYTES and self._accepting
            ):
                self._room.wait(0.5)
            if self._accepting:
                self._inbox_bytes += size
            held = self._inbox_bytes
        if not self._accepting:
            return  # shutting down: left unacknowledged, the broker delivers it again later
        inbox = self._inbox
        before = len(inbox)
        inbox.extend(incoming)
        after = len(inbox)
        if before == 0:
            self._from_thread(self._wake.set)
        size_limit = self._settings.ingest_batch_size
        # A batch is full at batch_size messages or BATCH_MAX_BYTES of payload, whichever
        # comes first (backlog messages of 100 readings fill the bytes long before the count)
        if (before < size_limit <= after) or (held - size < BATCH_MAX_BYTES <= held):
            self._from_thread(self._full.set)

    # -- batching side (asyncio) -------------------------------------------------------

    async def _next_batch(self, stop: asyncio.Event) -> list[Incoming]:
        """Up to ``batch_size`` messages (or 4 MiB), waiting at most ``batch_max_age_ms``."""
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
        size = self._settings.ingest_batch_size
        if self._filling(size) and not stop.is_set():
            self._full.clear()
            if self._filling(size):
                filling = asyncio.ensure_future(self._full.wait())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {filling, stopping},
                    timeout=self._settings.ingest_batch_max_age_ms / 1000,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                filling.cancel()
                stopping.cancel()
        batch: list[Incoming] = []
        payload = 0
        inbox = self._inbox
        while inbox and len(batch) < size and payload < BATCH_MAX_BYTES:
            m = inbox.popleft()
            payload += len(m.payload)
            batch.append(m)
        with self._room:
            self._inbox_bytes -= payload
            self._room.notify_all()
        return batch

    def _filling(self, size: int) -> bool:
        """Whether the inbox holds less than a full batch (by count and by bytes)."""
        return len(self._inbox) < size and self._inbox_bytes < BATCH_MAX_BYTES

    def _route(self, batch: list[Incoming], devices: dict[str, DeviceRow], now: datetime) -> Routed:
        return route(
            batch,
            topics=self._topics,
            kinds=self._kinds,
            devices=devices,
            limits=self._limits,
            now=now,
        )

    async def _store(self, routed: Routed, now: datetime) -> BatchResult:
        return await write_batch(
            self._pool,
            self._kinds,
            routed.readings,
            routed.dead_letters,
            now,
            statuses=routed.statuses,
        )

    async def _write(self, batch: list[Incoming]) -> tuple[Routed, BatchResult]:
        now = self._clock()
        devices = await self._devices.lookup(device_ids(self._topics, batch))
        routed = self._route(batch, devices, now)
        # (A batch retried while the database is away is admitted again: a device's quota
        # may then run out early in that window; its dead letters are counted, not lost.)
        routed.dead_letters, dropped = self._quota.admit(routed.dead_letters, now)
        self.metrics.dead_letters_dropped.inc(dropped)
        try:
            result = await self._store(routed, now)
        except asyncpg.PostgresError as exc:
            if is_transient(exc):
                raise
            # The database refused the batch (a constraint, a trigger, a bug): find the
            # messages it refuses one by one, keep those as dead letters with the reason,
            # and store the rest. Rare, so simplicity beats speed here.
            log.warning("database refused a batch; writing its %d messages one by one", len(batch))
            routed, result = await self._write_one_by_one(batch, devices, now)
        return routed, result

    async def _write_one_by_one(
        self, batch: list[Incoming], devices: dict[str, DeviceRow], now: datetime
    ) -> tuple[Routed, BatchResult]:
        total = Routed()
        inserted = duplicates = letters = 0
        newest: dict[str, tuple[str, datetime]] = {}
        for m in batch:
            one = self._route([m], devices, now)
            try:
                r = await self._store(one, now)
            except asyncpg.PostgresError as exc:
                if is_transient(exc):
                    raise
                parts = self._topics.parse(m.topic)
                reason = f"the database refused this message: {exc}"[:500]
                one = Routed(
                    dead_letters=[
                        DeadLetter(
                            now,
                            m.topic,
                            parts.device_id if parts else None,
                            "storage_error",
                            reason,
                            m.payload,
                        )
                    ]
                )
                r = await write_batch(self._pool, self._kinds, [], one.dead_letters, now)
            total.readings.extend(one.readings)
            total.dead_letters.extend(one.dead_letters)
            total.statuses.extend(one.statuses)
            inserted += r.inserted
            duplicates += r.duplicates
            letters += r.dead_letters
            for device_id, kind, ts in r.newest:
                seen = newest.get(device_id)
                if seen is None or ts > seen[1]:
                    newest[device_id] = (kind, ts)
        stored = [(d, *newest[d]) for d in sorted(newest)]
        return total, BatchResult(inserted, duplicates, letters, newest=stored)

    def _observe(self, batch: list[Incoming], routed: Routed, result: BatchResult) -> None:
        m = self.metrics
        committed = datetime.now(UTC)
        m.written.inc(result.inserted)
        m.duplicates.inc(result.duplicates + routed.repeated)
        m.statuses.inc(len(routed.statuses))
        m.batch_size.observe(len(batch))
        for letter in routed.dead_letters:
            m.rejected.labels(letter.code).inc()
        m.lag.observe_many([(committed - r.time).total_seconds() for r in routed.readings])
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates + routed.repeated
        self.stats.dead_letters += result.dead_letters
        self.stats.statuses += len(routed.statuses)
        self.stats.batches += 1

    async def _commit_with_retry(
        self, batch: list[Incoming], stop: asyncio.Event
    ) -> BatchResult | None:
        """Write the batch, retrying while the database is away; None if given up at stop."""
        delay = 0.2
        while True:
            started = time.perf_counter()
            try:
                routed, result = await self._write(batch)
            except TRANSIENT as exc:
                self.metrics.database_up.set(0)
                self.metrics.buffer_depth.set(len(batch) + len(self._inbox))
                self.metrics.retries.inc()
                self.stats.retries += 1
                if stop.is_set():
                    log.warning(
                        "stopping while the database is unavailable; %d messages stay"
                        " unacknowledged for redelivery",
                        len(batch) + len(self._inbox),
                    )
                    return None
                log.warning(
                    "database unavailable; retrying",
                    extra={"error": repr(exc)[:300], "retry_in_s": delay, "held": len(batch)},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10.0)
                continue
            self.metrics.commit_seconds.observe(time.perf_counter() - started)
            self.metrics.database_up.set(1)
            self._observe(batch, routed, result)
            return result

    async def _prune_periodically(self) -> None:
        s = self._settings
        while True:
            await asyncio.sleep(min(60.0, s.ingest_prune_interval_s))
            try:
                result = await prune(
                    self._pool,
                    self._kinds,
                    now=self._clock(),
                    retention_days=s.retention_days,
                    dead_letter_retention_days=s.dead_letter_retention_days,
                    dead_letter_max_rows=s.dead_letter_max_rows,
                )
                if result.ran:
                    log.info(
                        "pruned old rows",
                        extra={
                            "readings_deleted": result.readings_deleted,
                            "dead_letters_deleted": result.dead_letters_deleted,
                        },
                    )
            except PRUNE_RETRY as exc:
                log.warning("prune failed; will try again: %r", exc)
            await asyncio.sleep(max(0.0, s.ingest_prune_interval_s - 60.0))

    async def _commit_and_ack(
        self,
        client: mqtt.Client,
        batch: list[Incoming],
        stop: asyncio.Event,
        before: asyncio.Future[bool] | None,
        done: asyncio.Future[bool],
    ) -> bool:
        """Commit, acknowledge, then (once every earlier batch has committed) note the
        watermarks: batches commit concurrently, and a watermark must not pass a reading
        of an earlier batch that is still being retried."""
        try:
            result = await self._commit_with_retry(batch, stop)
            if result is None:
                return False
            generation = self._generation
            ack_all(client, [m.mid for m in batch if m.qos == 1 and m.generation == generation])
            if before is None or await before:
                self.watermarks.committed(result.newest)
                done.set_result(True)
            return True
        finally:
            if not done.done():
                done.set_result(False)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then flush what was received and disconnect.

        Raises :class:`BrokerRefusedError` when the broker refuses the login for good.
        """
        self._loop = asyncio.get_running_loop()
        outer, stop = stop, asyncio.Event()

        async def either() -> None:
            waits = {asyncio.create_task(outer.wait()), asyncio.create_task(self._refused.wait())}
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            stop.set()

        linked = asyncio.create_task(either())
        try:
            await self._consume(stop)
        finally:
            linked.cancel()
        if self.refused is not None:
            raise BrokerRefusedError(self.refused)

    async def _consume(self, stop: asyncio.Event) -> None:
        client = self._make_client()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = self._settings.ingest_receive_maximum
        client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=props,
        )
        client.loop_start()
        marks_stop = asyncio.Event()
        marker = asyncio.create_task(self.watermarks.run(client, marks_stop))
        pruner = (
            asyncio.create_task(self._prune_periodically())
            if self._settings.ingest_prune_interval_s > 0
            else None
        )
        pending: set[asyncio.Task[bool]] = set()
        previous: asyncio.Future[bool] | None = None
        try:
            gave_up = False
            while not gave_up:
                if stop.is_set():
                    self._accepting = False
                batch = await self._next_batch(stop)
                self.metrics.buffer_depth.set(len(self._inbox) + len(batch))
                if batch:
                    self.stats.received += len(batch)
                    self.metrics.received.inc(len(batch))
                    # Decode the next batch while this one is in the database.
                    committed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                    pending.add(
                        asyncio.create_task(
                            self._commit_and_ack(client, batch, stop, previous, committed)
                        )
                    )
                    previous = committed
                    if len(pending) >= PIPELINE_DEPTH:
                        done, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
                        gave_up = not all(t.result() for t in done)
                elif stop.is_set():
                    break
            if pending:
                await asyncio.wait(pending)
                for t in pending:
                    t.result()
        finally:
            self._accepting = False
            marks_stop.set()
            with contextlib.suppress(Exception):
                await marker
            if pruner is not None:
                pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruner
            client.disconnect()
            client.loop_stop()
            log.info("ingest stopped", extra={"stats": repr(self.stats)})
