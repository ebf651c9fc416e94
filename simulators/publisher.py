"""Sends what the simulation plans, over MQTT with QoS 1, as the devices would.

Devices follow the store-and-forward contract (:mod:`simulators.store_forward`): each
telemetry message is kept until ingest's ``stored`` watermark covers it, and resent after
a reconnect if it does not.

One shared connection, or (when the broker wants each device's own login) one connection
per device with its credentials. Live runs are paced by simulated time (``speed`` times
faster than real time); a backfill sends everything at once, as backlog arrays.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow
from core.wire import Topics, encode_telemetry
from simulators.engine import BACKLOG_CHUNK, Emission
from simulators.fleet import SimDevice
from simulators.models import Item
from simulators.store_forward import StoreAndForward


class PublishError(RuntimeError):
    """The broker cannot be reached or refuses a login; the message says which."""


@dataclass(frozen=True, slots=True)
class Credential:
    username: str
    password: str


@dataclass(slots=True)
class Stats:
    messages: int = 0
    readings: int = 0
    backlogs: int = 0
    malformed: int = 0

    def count(self, e: Emission) -> None:
        self.messages += 1
        if e.raw is not None:
            self.malformed += 1
        else:
            self.readings += len(e.items)
        if e.backlog:
            self.backlogs += 1


def connect(
    settings: Settings,
    client_id: str = "",
    *,
    credential: Credential | None = None,
    will: tuple[str, bytes] | None = None,
    timeout: float = 10.0,
) -> mqtt.Client:
    """A connected client with its network loop running; raises :class:`PublishError`."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if credential is not None:
        client.username_pw_set(credential.username, credential.password)
    elif settings.mqtt_username:
        pw = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, pw)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    answered = threading.Event()
    refused: list[str] = []

    def on_connect(
        c: mqtt.Client,
        u: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"cannot reach the MQTT broker at {where}: {exc}") from None
    client.loop_start()
    if not answered.wait(timeout) or refused:
        client.loop_stop()
        who = f" as {credential.username!r}" if credential else ""
        why = refused[0] if refused else "no answer"
        raise PublishError(f"the MQTT broker at {where} refused the connection{who}: {why}")
    return client


class Sender:
    """MQTT clients for a fleet; keeps track of unacknowledged publishes."""

    def __init__(
        self,
        settings: Settings,
        fleet: Sequence[SimDevice],
        credentials: Mapping[str, Credential] | None = None,
    ) -> None:
        self.topics = Topics(settings.topic_root)
        self.settings = settings
        self.fleet = fleet
        self.credentials = credentials
        self.clients: dict[str, mqtt.Client] = {}
        self.shared: mqtt.Client | None = None
        self.pending: deque[mqtt.MQTTMessageInfo] = deque()
        self.forward = StoreAndForward(self.topics)

    def open(self) -> None:
        if self.credentials is None:
            self.shared = connect(self.settings)
        else:
            missing = [d.id for d in self.fleet if d.id not in self.credentials]
            if missing:
                raise PublishError(
                    f"--credentials has no login for {len(missing)} device(s), e.g. {missing[0]}"
                )
            try:
                for d in self.fleet:
                    status = self.topics.status(d.kind, d.id)
                    self.clients[d.id] = connect(
                        self.settings,
                        d.id,
                        credential=self.credentials[d.id],
                        will=(status, b"offline"),
                    )
            except PublishError:
                self._disconnect()
                raise
        if self.shared is not None:
            self.forward.attach(self.shared, [(d.kind, d.id) for d in self.fleet])
        else:
            for d in self.fleet:
                self.forward.attach(self.clients[d.id], [(d.kind, d.id)])
        for d in self.fleet:
            self._client(d).publish(self.topics.status(d.kind, d.id), b"online", qos=1, retain=True)

    def _client(self, device: SimDevice) -> mqtt.Client:
        return self.shared or self.clients[device.id]

    def send(self, device: SimDevice, payload: bytes) -> None:
        info = self._client(device).publish(
            self.topics.telemetry(device.kind, device.id), payload, qos=1
        )
        self.forward.sent(device.id, payload)
        self.pending.append(info)
        while self.pending and self.pending[0].is_published():
            self.pending.popleft()
        if len(self.pending) > 5000:  # do not run ahead of the broker without bound
            self.pending.popleft().wait_for_publish(timeout=30)

    def drain(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.pending:
            info = self.pending.popleft()
            info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise PublishError("the broker did not acknowledge every message in time")

    def close(self) -> None:
        try:
            for d in self.fleet:
                self.pending.append(
                    self._client(d).publish(
                        self.topics.status(d.kind, d.id), b"offline", qos=1, retain=True
                    )
                )
            self.drain(timeout=15)
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        self.forward.close()
        for c in [*self.clients.values(), *([self.shared] if self.shared else [])]:
            c.disconnect()
            c.loop_stop()
        self.clients.clear()
        self.shared = None


Tick = Callable[[datetime, Stats], None]


def run_live(
    sender: Sender,
    emissions: Iterable[Emission],
    *,
    sim_start: datetime,
    speed: float,
    stop: threading.Event,
    tick: Tick,
) -> Stats:
    """Send each message when its simulated time comes, ``speed`` times real time."""
    stats = Stats()
    w0 = time.monotonic()
    for e in emissions:
        due = w0 + (e.at - sim_start).total_seconds() / speed
        while (delay := due - time.monotonic()) > 0 and not stop.is_set():
            tick(e.at, stats)
            stop.wait(min(delay, 0.5))
        if stop.is_set():
            break
        sender.send(e.device, e.payload())
        stats.count(e)
        tick(e.at, stats)
    sender.drain()
    return stats


def run_backfill(
    sender: Sender, emissions: Iterable[Emission], *, stop: threading.Event, tick: Tick
) -> Stats:
    """Send a past period at once: each device's readings as backlog arrays."""
    stats = Stats()
    held: dict[str, tuple[SimDevice, list[Item]]] = {}

    def flush(dev: SimDevice, items: list[Item], at: datetime) -> None:
        e = Emission(at, dev, tuple(items), backlog=True)
        sender.send(dev, e.payload())
        stats.count(e)

    for e in emissions:
        if stop.is_set():
            break
        if e.raw is not None:
            sender.send(e.device, e.raw)
            stats.count(e)
        else:
            dev, items = held.setdefault(e.device.id, (e.device, []))
            items.extend(e.items)
            if len(items) >= BACKLOG_CHUNK:
                flush(dev, items[:BACKLOG_CHUNK], e.at)
                del items[:BACKLOG_CHUNK]
        tick(e.at, stats)
    for dev, items in held.values():
        if items:
            ts = items[-1]["ts"]
            assert isinstance(ts, datetime)
            flush(dev, items, ts)
    sender.drain()
    return stats


def run_rounds(
    sender: Sender,
    rounds: Iterable[list[tuple[SimDevice, Item]]],
    *,
    interval_s: float,
    stop: threading.Event,
    tick: Tick,
    clock: Callable[[], datetime],
) -> Stats:
    """One reading per device per round, stamped with the wall clock (a quick smoke test)."""
    stats = Stats()
    batches = iter(rounds)
    n = 0
    while not stop.is_set():
        if n and (stop.wait(interval_s) or stop.is_set()):
            break
        batch = next(batches, None)  # drawn after the wait: stamped with the time it is sent
        if batch is None:
            break
        for dev, item in batch:
            sender.send(dev, encode_telemetry([item]))
            stats.messages += 1
            stats.readings += 1
        tick(clock(), stats)
        n += 1
    sender.drain()
    return stats


def run(
    settings: Settings,
    kinds: KindRegistry,
    fleet: Sequence[DeviceRow | SimDevice],
    *,
    interval_s: float,
    rounds: int | None,
    seed: int,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    follow_commands: bool = False,
) -> int:
    """Rounds of one reading per device every ``interval_s`` until ``stop`` (the demo's loop).

    With ``follow_commands``, the street lights also obey the commands sent to them
    (:mod:`simulators.command_follower`). Returns the number of messages published.
    """
    from simulators.command_follower import following
    from simulators.engine import build_models
    from simulators.engine import rounds as make_rounds
    from simulators.fleet import as_sim_device
    from simulators.world import Conditions

    if not fleet:
        raise ValueError("the fleet is empty: nothing to publish")
    devices = [
        d if isinstance(d, SimDevice) else as_sim_device(d, i) for i, d in enumerate(fleet, 1)
    ]
    now = clock()
    models = build_models(devices, kinds, seed, now, now + timedelta(days=1))
    sender = Sender(settings, devices)
    sender.open()
    followers = following(settings, models if follow_commands else [])
    try:
        stats = run_rounds(
            sender,
            make_rounds(devices, kinds, Conditions(), rounds, seed, clock, models),
            interval_s=interval_s,
            stop=stop,
            tick=lambda t, s: None,
            clock=clock,
        )
    finally:
        followers.close()
        sender.close()
    return stats.messages
