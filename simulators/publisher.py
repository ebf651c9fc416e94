"""Publishes simulated telemetry with QoS 1, as a device would."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.kinds import KindRegistry
from core.settings import Settings
from core.storage.devices import DeviceRow
from core.wire import Topics, encode_telemetry
from simulators.values import typical_values

log = logging.getLogger(__name__)


def connect(settings: Settings, client_id: str = "") -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if settings.mqtt_username:
        pw = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, pw)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
    client.loop_start()
    return client


def publish_round(
    client: mqtt.Client,
    topics: Topics,
    kinds: KindRegistry,
    fleet: Sequence[DeviceRow],
    rng: random.Random,
    now: datetime,
) -> int:
    """One reading per device, stamped ``now``; returns how many were published."""
    infos = []
    for device in fleet:
        values = typical_values(kinds[device.kind], rng)
        payload = encode_telemetry([{"ts": now, **values}])
        infos.append(client.publish(topics.telemetry(device.kind, device.id), payload, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=30)
    return len(infos)


def run(
    settings: Settings,
    kinds: KindRegistry,
    fleet: Sequence[DeviceRow],
    *,
    interval_s: float,
    rounds: int | None,
    seed: int,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Publish rounds until ``rounds`` are done or ``stop`` is set; returns messages sent."""
    if not fleet:
        raise ValueError("the fleet is empty: nothing to publish")
    topics = Topics(settings.topic_root)
    rng = random.Random(seed)
    client = connect(settings)
    sent = 0
    done = 0
    try:
        while not stop.is_set() and (rounds is None or done < rounds):
            sent += publish_round(client, topics, kinds, fleet, rng, clock())
            done += 1
            log.info("round %d: %d messages published (%d in all)", done, len(fleet), sent)
            if rounds is None or done < rounds:
                stop.wait(interval_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent
