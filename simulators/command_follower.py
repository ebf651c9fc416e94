"""Simulated devices that obey commands, as a street light's controller would.

Each followed device logs in with its own client id and a persistent MQTT 5 session,
subscribes (QoS 1) to its own commands topic only, and for every command: replies
``delivered``, ignores it if its deadline has passed, carries it out on its model, replies
``done`` (or ``failed`` with the reason) and reports a reading at once, so its power and
dim level show the change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from commands.wire import CommandTopics, decode_command, encode_reply
from core.mqtt_threads import guarded
from core.settings import Settings
from core.wire import Topics, encode_telemetry
from simulators.fleet import SimDevice
from simulators.models import Item
from simulators.models.streetlight import StreetlightModel
from simulators.publisher import Credential
from simulators.world import Conditions

log = logging.getLogger(__name__)


class FollowError(RuntimeError):
    """A device could not subscribe to its commands; the message says why."""


class Commandable(Protocol):
    device: SimDevice

    def apply_command(self, command: str, args: dict[str, object]) -> str | None: ...

    def state(self, t: datetime, world: Conditions) -> Item: ...


class FollowedDevice:
    """One device's connection; ``connect`` and ``disconnect`` model it going off the air."""

    def __init__(
        self,
        settings: Settings,
        model: Commandable,
        *,
        credential: Credential | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.model = model
        self.credential = credential
        self.clock = clock
        self.device = model.device
        self.ctopics = CommandTopics(settings.topic_root)
        self.topics = Topics(settings.topic_root)
        self.received: list[dict[str, object]] = []
        self.ignored: list[dict[str, object]] = []
        self._client: mqtt.Client | None = None
        self._ready = threading.Event()
        self._refused: str | None = None
        self._lock = threading.Lock()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._ready.set()
            return
        client.subscribe(self.ctopics.commands(self.device.kind, self.device.id), qos=1)

    def _on_subscribe(self, *args: object) -> None:
        self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        reply = self.ctopics.reply(self.device.kind, self.device.id)
        try:
            cmd = decode_command(bytes(msg.payload))
        except ValueError:
            log.warning("%s: unreadable command on %s", self.device.id, msg.topic)
            return
        cid = str(cmd["id"])
        deadline = datetime.fromisoformat(str(cmd["deadline"]))
        if deadline <= self.clock():
            with self._lock:
                self.ignored.append(cmd)
            return  # too late to act: the platform marks it expired
        client.publish(reply, encode_reply(cid, "delivered"), qos=1)
        args = cmd["args"] if isinstance(cmd["args"], dict) else {}
        failure = self.model.apply_command(str(cmd["command"]), args)
        with self._lock:
            self.received.append(cmd)
        if failure is None:
            self.report()
        client.publish(reply, encode_reply(cid, "failed" if failure else "done", failure), qos=1)

    def report(self) -> None:
        """Publish the model's reading now (a controller reports at once on every change)."""
        if self._client is None:
            return
        t = self.clock()
        item = {"ts": t, **self.model.state(t, Conditions())}
        topic = self.topics.telemetry(self.device.kind, self.device.id)
        self._client.publish(topic, encode_telemetry([item]), qos=1)

    def connect(self, timeout: float = 10) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device.id, protocol=mqtt.MQTTv5)
        if self.credential is not None:
            c.username_pw_set(self.credential.username, self.credential.password)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = guarded(f"command follower {self.device.id}", self._on_message)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 14 * 86400
        self._ready.clear()
        self._refused = None
        c.connect(
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=props,
        )
        c.loop_start()
        self._client = c
        if not self._ready.wait(timeout) or self._refused:
            self.disconnect()
            why = self._refused or f"not subscribed within {timeout}s"
            raise FollowError(f"{self.device.id}: cannot follow its commands: {why}")

    def disconnect(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def commands_received(self) -> list[str]:
        with self._lock:
            return [str(c["id"]) for c in self.received]


class Following:
    """The followed devices of a run; ``close`` disconnects them all."""

    def __init__(self, devices: list[FollowedDevice]) -> None:
        self.devices = devices

    def close(self) -> None:
        for d in self.devices:
            d.disconnect()


def following(
    settings: Settings,
    models: Sequence[object],
    credentials: Mapping[str, Credential] | None = None,
) -> Following:
    """Connect every model that takes commands (the street lights) to its commands topic."""
    out = Following([])
    try:
        for model in models:
            if not isinstance(model, StreetlightModel):
                continue
            f = FollowedDevice(settings, model, credential=(credentials or {}).get(model.device.id))
            try:
                f.connect()
            except (FollowError, OSError) as exc:  # the lights still report; they just won't obey
                log.warning("%s", exc)
                continue
            out.devices.append(f)
    except BaseException:
        out.close()
        raise
    return out
