"""The LoRaWAN bridge: a network server's MQTT integration into Citysense, and back.

Each uplink event is mapped to a registered device by its DevEUI, decoded (the network
server's decoded object when it has one, else the device model's codec), turned into the
native telemetry message it stands for and written through ingest's own router and batch
write, so validation, dead letters and idempotency are exactly those of native MQTT.
Events are acknowledged to the network server's broker only after the batch commits
(QoS 1, persistent session). Several gateways' copies of one frame (same DevEUI and frame
counter) get the first copy's time, so the store keeps one reading. Commands for devices
with a DevEUI go out as downlinks in the server's own format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from core.kinds import KindRegistry
from core.mqtt_threads import hand_over
from core.settings import Settings
from core.storage import commands as command_store
from core.storage.batches import write_batch
from core.storage.dead_letters import DeadLetter
from core.storage.devices import devices_by_id
from core.storage.lorawan import LoraDevice, devices_by_dev_eui, devices_with_eui
from core.wire import DecodeLimits, Topics, Value, encode_telemetry
from ingest.dead_letter_quota import DeadLetterQuota
from ingest.router import Incoming, route
from lorawan.codec import Codec, CodecError
from lorawan.servers import (
    ACK_FILTER,
    UPLINK_FILTER,
    Server,
    Uplink,
    UplinkError,
    downlink,
    parse_ack,
    parse_uplink,
)

log = logging.getLogger(__name__)

BATCH = 500
BATCH_AGE_S = 0.05
SEEN_FRAMES = 100_000
"""(DevEUI, frame counter) pairs remembered to give gateway duplicates one time."""


class BridgeError(RuntimeError):
    """The network server's broker cannot be reached or refuses us; the message says which."""


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    client_id: str = "citysense-lorawan"


@dataclass(slots=True)
class BridgeStats:
    uplinks: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    dead_letters_dropped: int = 0
    downlinks: int = 0
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class _Event:
    topic: str
    payload: bytes
    mid: int
    qos: int


class Bridge:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        kinds: KindRegistry,
        *,
        server: Server,
        broker: Broker,
        codecs: Mapping[str, Codec],
        application: str | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.kinds = kinds
        self.server = server
        self.broker = broker
        self.codecs = codecs
        self.application = application
        self.poll_s = poll_s
        self.topics = Topics(settings.topic_root)
        self.limits = DecodeLimits(  # ingest's own limits
            max_payload_bytes=settings.ingest_max_payload_bytes,
            max_future=timedelta(seconds=settings.ingest_max_future_s),
            max_age=timedelta(days=settings.retention_days),
        )
        self.stats = BridgeStats()
        self.quota = DeadLetterQuota()
        self._seen: OrderedDict[tuple[str, int], datetime] = OrderedDict()
        self._client: mqtt.Client | None = None
        self._queue: asyncio.Queue[_Event] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = threading.Event()
        self.subscribed = asyncio.Event()

    # -- MQTT (paho's thread) -------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: object,
    ) -> None:
        if reason.is_failure:
            log.error("network server broker refused the bridge: %s", reason)
            return
        client.subscribe([(UPLINK_FILTER[self.server], 1), (ACK_FILTER[self.server], 1)])

    def _on_subscribe(self, *args: object) -> None:
        self._subscribed.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        event = _Event(msg.topic, bytes(msg.payload), msg.mid, msg.qos)
        hand_over("lorawan bridge", self._loop, self._queue, event)

    def _connect(self) -> mqtt.Client:
        # MQTT 3.1.1: what both servers' brokers speak (TTS only that, and only QoS 0).
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.broker.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
            manual_ack=True,
        )
        if self.broker.username is not None:
            c.username_pw_set(self.broker.username, self.broker.password)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.max_queued_messages_set(0)
        where = f"{self.broker.host}:{self.broker.port}"
        try:
            c.connect(self.broker.host, self.broker.port, keepalive=30)
        except OSError as exc:
            raise BridgeError(
                f"cannot reach the network server's broker at {where}: {exc}"
            ) from None
        c.loop_start()
        if not self._subscribed.wait(10):
            c.loop_stop()
            raise BridgeError(f"the network server's broker at {where} did not let us subscribe")
        return c

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = await asyncio.to_thread(self._connect)
        downlinks = asyncio.create_task(self._downlinks(stop))
        try:
            while not stop.is_set():
                batch = await self._next_batch(stop)
                if batch:
                    await self._commit(batch, stop)
        finally:
            downlinks.cancel()
            await asyncio.gather(downlinks, return_exceptions=True)
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None  # no cycle left: paho's socket pair closes with the client

    async def _next_batch(self, stop: asyncio.Event) -> list[_Event]:
        assert self._queue is not None
        try:
            first = await asyncio.wait_for(self._queue.get(), 0.2)
        except TimeoutError:
            return []
        batch = [first]
        deadline = asyncio.get_running_loop().time() + BATCH_AGE_S
        while len(batch) < BATCH:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _commit(self, batch: list[_Event], stop: asyncio.Event) -> None:
        while True:
            try:
                await self.write(batch)
                break
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("lorawan: batch not stored (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    return  # unacknowledged: the broker redelivers to the next run
        assert self._client is not None
        for e in batch:  # only after the commit
            self._client.ack(e.mid, e.qos)

    async def write(self, batch: list[_Event]) -> None:
        """Decode, route through ingest's router and store one batch in one transaction;
        record the devices' acknowledgements of our downlinks."""
        acks = [e for e in batch if self._is_ack(e.topic)]
        if acks:
            await self._record_acks(acks)
            batch = [e for e in batch if not self._is_ack(e.topic)]
            if not batch:
                return
        now = datetime.now(UTC)
        letters: list[DeadLetter] = []
        parsed: list[tuple[_Event, Uplink]] = []
        for e in batch:
            try:
                parsed.append((e, parse_uplink(self.server, e.topic, e.payload)))
            except UplinkError as exc:
                letters.append(DeadLetter(now, e.topic, None, "invalid", str(exc), e.payload))
        found = await devices_by_dev_eui(self.pool, sorted({u.dev_eui for _, u in parsed}))
        native: list[tuple[_Event, Incoming]] = []
        ids: list[tuple[str, int]] = []
        for e, u in parsed:
            self.stats.uplinks += 1
            devices = found.get(u.dev_eui, [])
            if not devices:
                letters.append(
                    DeadLetter(
                        now,
                        e.topic,
                        u.dev_eui.upper(),
                        "unknown_device",
                        f"DevEUI {u.dev_eui.upper()} is not registered: claim it, or set"
                        " dev_eui on its registry entry",
                        e.payload,
                    )
                )
                continue
            if len(devices) > 1:
                names = ", ".join(d.id for d in devices)
                letters.append(
                    DeadLetter(now, e.topic, devices[0].id, "invalid",
                               f"DevEUI {u.dev_eui.upper()} is set on several devices: {names}",
                               e.payload)
                )  # fmt: skip
                continue
            device = devices[0]
            self.stats.addresses[device.id] = (u.application, u.ns_device_id)
            try:
                fields = self._fields(device, u)
            except CodecError as exc:
                letters.append(DeadLetter(now, e.topic, device.id, "invalid", str(exc), e.payload))
                continue
            ts = self._frame_time(u)
            body = encode_telemetry([{"ts": ts, **fields}])
            topic = self.topics.telemetry(device.kind, device.id)
            native.append((e, Incoming(topic, body, e.mid, e.qos)))
            ids.append((device.id, e.mid))
        rows = await devices_by_id(self.pool, sorted({d for d, _ in ids}))
        readings = []
        for e, n in native:
            routed = route([n], topics=self.topics, kinds=self.kinds, devices=rows,
                           limits=self.limits, now=now)  # fmt: skip
            readings.extend(routed.readings)
            for d in routed.dead_letters:  # keep what the network server actually sent
                letters.append(DeadLetter(d.received_at, e.topic, d.device_id, d.code,
                                          d.reason, e.payload))  # fmt: skip
        letters, dropped = self.quota.admit(letters, now)  # ingest's per-device quota
        self.stats.dead_letters_dropped += dropped
        result = await write_batch(self.pool, self.kinds, readings, letters, now)
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.dead_letters += result.dead_letters

    def _is_ack(self, topic: str) -> bool:
        suffix = "/event/ack" if self.server is Server.CHIRPSTACK else "/down/ack"
        return topic.endswith(suffix)

    async def _record_acks(self, events: list[_Event]) -> None:
        now = datetime.now(UTC)
        for e in events:
            ack = parse_ack(self.server, e.topic, e.payload)
            if ack is None:
                continue  # not one of ours (another application's downlink)
            row = await command_store.get_command(self.pool, ack.command_id)
            if row is None:
                continue
            await command_store.apply_reply(
                self.pool,
                device_id=row.device_id,
                command_id=ack.command_id,
                status="done" if ack.acknowledged else "failed",
                detail=None if ack.acknowledged else "the device did not acknowledge the downlink",
                at=now,
            )

    def _fields(self, device: LoraDevice, u: Uplink) -> dict[str, Value]:
        kind = self.kinds[device.kind]
        if u.decoded is not None:
            known = {k: v for k, v in u.decoded.items() if kind.field(k) is not None}
            if known:
                return known
        codec = self.codecs.get(device.model_id or "")
        if codec is None:
            what = "a decoded object without any" if u.decoded else "no decoded object and no"
            raise CodecError(
                f"the network server sent {what} {kind.name} field, and device model"
                f" {device.model_id!r} has no codec (citysense lorawan run --codecs FILE)"
            )
        if codec.kind != device.kind:
            raise CodecError(f"codec {codec.model!r} is for {codec.kind}, not {device.kind}")
        return codec.decode(u.data)

    def _frame_time(self, u: Uplink) -> datetime:
        if u.f_cnt is None:
            return u.time
        key = (u.dev_eui, u.f_cnt)
        first = self._seen.get(key)
        if first is not None:
            self._seen.move_to_end(key)
            return first
        self._seen[key] = u.time
        if len(self._seen) > SEEN_FRAMES:
            self._seen.popitem(last=False)
        return u.time

    # -- downlinks ------------------------------------------------------------------------

    async def _downlinks(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.send_downlinks()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("lorawan downlinks: %s; retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)

    async def send_downlinks(self) -> None:
        assert self._client is not None
        due = await command_store.due_commands(self.pool, limit=BATCH, lorawan=True)
        if not due:
            return
        eui_of = await devices_with_eui(self.pool, [c.device_id for c in due])
        infos = []
        for c in due:
            device = eui_of.get(c.device_id)
            if device is None:
                continue
            codec = self.codecs.get(device.model_id or "")
            try:
                if codec is None:
                    raise CodecError(f"device model {device.model_id!r} has no codec")
                fport, data = codec.encode(c.command, c.args)
            except CodecError as exc:
                await command_store.fail_commands(self.pool, [c.id], f"no downlink: {exc}")
                continue
            app, ns_id = self.stats.addresses.get(c.device_id, (self.application or "", ""))
            if not app:
                continue  # no uplink seen yet and no --application: wait for one
            topic, payload = downlink(
                self.server,
                application=app,
                ns_device_id=ns_id or f"eui-{device.dev_eui}",
                dev_eui=device.dev_eui,
                fport=fport,
                data=data,
                command_id=c.id,
            )
            infos.append((c.id, self._client.publish(topic, payload, qos=1)))
        sent = []
        for cid, info in infos:
            await asyncio.to_thread(info.wait_for_publish, 10)
            if info.is_published():
                sent.append(cid)
        if sent:
            await command_store.mark_sent(self.pool, sent, datetime.now(UTC))
            self.stats.downlinks += len(sent)
