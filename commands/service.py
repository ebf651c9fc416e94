"""The command dispatcher: publishes stored commands and records the devices' replies.

It logs in to the broker as the ``citysense-commands`` service account (writes
``+/+/commands``, reads ``+/+/reply``) with a persistent MQTT 5 session, so replies sent
while it is down wait for it. Each command goes out QoS 1 with a message expiry interval
equal to the time left before its deadline: the broker keeps it in an offline device's
session until the device returns, and drops it once it has expired. A reply is
acknowledged to the broker only after the database has recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from commands.wire import CommandTopics, ReplyError, decode_reply, encode_command
from core.mqtt_threads import hand_over
from core.settings import Settings
from core.storage import commands as store
from core.storage.dead_letters import DeadLetter, insert_dead_letters

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 14 * 86400
BATCH = 500


class DispatchError(RuntimeError):
    """The broker cannot be reached or refuses the service account; the message says which."""


@dataclass(slots=True)
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        client_id: str = "citysense-commands",
        login: tuple[str, str] | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.topics = CommandTopics(settings.topic_root)
        self.client_id = client_id
        self.login = login
        """(username, password); the broker makes the username the client id."""
        self.poll_s = poll_s
        self._client: mqtt.Client | None = None
        self._incoming: asyncio.Queue[_Incoming] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()
        self.published = 0
        self.replies = 0

    # -- MQTT (paho's thread) -------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the commands service: %s", reason)
            return
        client.subscribe(self.topics.reply_filter(), qos=1)
        self._connected.set()

    def _on_disconnect(self, *args: object) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        item = _Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos)
        hand_over("commands", self._loop, self._incoming, item)

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.login is not None:
            client.username_pw_set(*self.login)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.max_queued_messages_set(0)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        where = f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"
        try:
            client.connect(
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                keepalive=30,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            raise DispatchError(f"cannot reach the MQTT broker at {where}: {exc}") from None
        client.loop_start()
        if not self._connected.wait(10):
            client.loop_stop()
            raise DispatchError(
                f"the MQTT broker at {where} did not accept the commands service account"
            )
        return client

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._incoming = asyncio.Queue()
        self._client = await asyncio.to_thread(self._connect)
        replies = asyncio.create_task(self._replies())
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("commands: %s; retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        finally:
            replies.cancel()
            await asyncio.gather(replies, return_exceptions=True)
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None  # no cycle left: paho's socket pair closes with the client

    async def tick(self) -> None:
        """Expire what is overdue, then publish what is due."""
        expired = await store.expire_overdue(self.pool)
        if expired:
            log.info("commands: %d expired unanswered", len(expired))
        if not self._connected.is_set():
            return
        due = await store.due_commands(self.pool, limit=BATCH)
        if not due:
            return
        assert self._client is not None
        now = datetime.now(UTC)
        infos = []
        for c in due:
            left = int((c.deadline - now).total_seconds())
            if left < 1:
                continue  # expires on the next tick
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.MessageExpiryInterval = left
            payload = encode_command(c.id, c.command, c.args, c.deadline)
            topic = self.topics.commands(c.kind, c.device_id)
            infos.append((c.id, self._client.publish(topic, payload, qos=1, properties=props)))
        sent = await asyncio.to_thread(_wait_published, infos)
        if sent:
            await store.mark_sent(self.pool, sent, datetime.now(UTC))
            self.published += len(sent)

    async def _replies(self) -> None:
        assert self._incoming is not None
        assert self._client is not None
        while True:
            item = await self._incoming.get()
            while True:
                try:
                    await self._record(item)
                    break
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("commands: reply not recorded (%s); retrying", exc)
                    await asyncio.sleep(1)
            self._client.ack(item.mid, item.qos)  # only after the database has it
            self.replies += 1

    async def _record(self, item: _Incoming) -> None:
        where = self.topics.parse_reply(item.topic)
        now = datetime.now(UTC)
        reason = None
        if where is None:
            reason = f"not a reply topic: {item.topic}"
        else:
            try:
                reply = decode_reply(item.payload)
            except ReplyError as exc:
                reason = str(exc)
            else:
                status = await store.apply_reply(
                    self.pool,
                    device_id=where.device_id,
                    command_id=reply.command_id,
                    status=reply.status.value,
                    detail=reply.detail,
                    at=now,
                )
                if status is None:
                    reason = f"no command {reply.command_id} was sent to {where.device_id}"
        if reason is not None:
            letter = DeadLetter(
                now,
                item.topic,
                None if where is None else where.device_id,
                "bad_reply",
                reason,
                item.payload[:4096],
            )
            async with self.pool.acquire() as conn:
                await insert_dead_letters(conn, [letter])


def _wait_published(infos: list[tuple[str, mqtt.MQTTMessageInfo]]) -> list[str]:
    sent = []
    for command_id, info in infos:
        try:
            info.wait_for_publish(timeout=10)
        except (RuntimeError, ValueError):
            continue
        if info.is_published():
            sent.append(command_id)
    return sent
