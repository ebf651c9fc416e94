"""The read buffer under paho hands out exactly the bytes the socket delivered, in order,
and tells paho (via pending) when more are waiting without another select."""

from __future__ import annotations

import socket
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citysense.local.mosquitto import LocalMosquitto
from ingest.buffered_client import BufferedClient, BufferedSocket


def test_small_reads_come_from_one_large_recv_in_order() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        data = bytes(range(256)) * 40
        a.sendall(data)
        buffered = BufferedSocket(b)
        out = bytearray(buffered.recv(1))
        assert buffered.pending() == len(data) - 1
        while buffered.pending():
            out += buffered.recv(7)
        assert bytes(out) == data
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # empty buffer, nothing on the socket: paho's "try again"
        assert buffered.fileno() == b.fileno()
        a.close()
        assert buffered.recv(1) == b""  # peer closed: paho sees the connection lost


def test_publishes_with_and_without_properties_arrive_whole(broker: LocalMosquitto) -> None:
    """The lean PUBLISH decoder and paho's own one (properties present) agree."""
    topic = f"test/buffered/{uuid.uuid4().hex[:8]}"
    got: list[mqtt.MQTTMessage] = []
    subscribed, complete = threading.Event(), threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg)
        if len(got) == 4:
            complete.set()

    sub = BufferedClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(10)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = ("site", "Muara Enim")
        pub.publish(topic, b"plain", qos=1).wait_for_publish(10)
        pub.publish(topic, b"", qos=1).wait_for_publish(10)
        pub.publish(topic, b"q0" * 5000, qos=0).wait_for_publish(10)
        pub.publish(topic, b"with properties", qos=1, properties=props).wait_for_publish(10)
        assert complete.wait(10), got
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            (topic, b"plain", 1),
            (topic, b"", 1),
            (topic, b"q0" * 5000, 0),
            (topic, b"with properties", 1),
        ]
        assert got[0].mid > 0
        assert got[2].mid == 0
        assert got[3].properties is not None
        assert got[3].properties.UserProperty == [("site", "Muara Enim")]  # type: ignore[attr-defined]
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.disconnect()
        sub.loop_stop()
