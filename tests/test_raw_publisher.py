"""The load generator's bare-socket QoS 1 publisher: a real broker accepts its packets,
delivers every message intact, and acknowledges each one."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citysense.local.mosquitto import LocalMosquitto
from simulators.raw_publisher import RawPublisher, _remaining_length


def test_remaining_length_is_the_spec_encoding() -> None:
    # MQTT 3.1.1, section 2.2.3: the boundaries of the 1-, 2- and 3-byte encodings
    cases = {0: "00", 127: "7f", 128: "8001", 16383: "ff7f", 16384: "808001"}
    for n, hexed in cases.items():
        assert _remaining_length(n).hex() == hexed


def test_every_message_arrives_intact_and_is_acknowledged(broker: LocalMosquitto) -> None:
    topic = f"test/raw/{uuid.uuid4().hex[:8]}"
    payloads = [b"x%d" % i for i in range(3000)] + [b"L" * 200, b"H" * 20_000]
    got: list[tuple[str, bytes, int]] = []
    subscribed, complete = threading.Event(), threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, bytes(msg.payload), msg.qos))
        if len(got) == len(payloads):
            complete.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(10)
        pub = RawPublisher("127.0.0.1", broker.port, client_id=f"raw-{uuid.uuid4().hex[:6]}")
        try:
            name = pub.topic(topic)
            for start in range(0, len(payloads), 500):
                pub.send([pub.packet(name, p) for p in payloads[start : start + 500]])
            assert pub.wait_acked(len(payloads), 30), pub.error
            assert pub.acked == len(payloads)
        finally:
            pub.close()
        assert complete.wait(30), f"{len(got)} of {len(payloads)} delivered"
        assert got == [(topic, p, 1) for p in payloads]
    finally:
        sub.disconnect()
        sub.loop_stop()
