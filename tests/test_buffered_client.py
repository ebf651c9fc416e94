"""The read buffer under paho hands out exactly the bytes the socket delivered, in order,
and tells paho (via pending) when more are waiting without another select."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citysense.local.mosquitto import LocalMosquitto
from ingest.buffered_client import BufferedClient, BufferedSocket, Publish, take_publishes


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


def _publish_packet(
    topic: bytes, payload: bytes, *, qos: int, mid: int = 0, props: bytes = b"\0"
) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    body += props + payload
    length, n = bytearray(), len(body)
    while True:
        byte, n = n & 0x7F, n >> 7
        length.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x30 | qos << 1]) + bytes(length) + body


def test_take_publishes_cuts_complete_plain_packets_and_stops_at_anything_else() -> None:
    big = b"x" * 20_000  # three-byte remaining length
    stream = (
        _publish_packet(b"a/b", b"one", qos=1, mid=7)
        + _publish_packet(b"a/c", b"", qos=0)
        + _publish_packet(b"a/d", big, qos=1, mid=65535)
    )
    with_props = _publish_packet(b"a/e", b"p", qos=1, mid=9, props=b"\x03\x23\x00\x01")
    out: list[Publish] = []
    assert take_publishes(stream + with_props, 0, out) == len(stream)
    assert out == [(b"a/b", b"one", 7, 1), (b"a/c", b"", 0, 0), (b"a/d", big, 65535, 1)]

    # A packet cut off by the end of the buffer, at any byte, is left for paho whole.
    whole = _publish_packet(b"a/b", big, qos=1, mid=1)
    for cut in (1, 2, 3, 5, 8, len(whole) - 1):
        out = []
        assert take_publishes(stream + whole[:cut], 0, out) == len(stream)
        assert len(out) == 3
    # Other packet types (PINGRESP, SUBACK), QoS 2 and nonsense stop it where they start.
    for other in (b"\xd0\x00", b"\x90\x03\x00\x01\x00", _publish_packet(b"t", b"q2", qos=2, mid=3)):
        out = []
        assert take_publishes(stream + other + stream, 0, out) == len(stream)
    for bad in (b"\x32\x02\x00\x05", b"\x32\xff\xff\xff\xff\x01", b"\x30\x01\x00"):
        out = []
        assert take_publishes(bad, 0, out) == 0
        assert out == []


def test_bulk_sink_gets_every_message_once_in_order_and_ack_many_acks_them(
    broker: LocalMosquitto,
) -> None:
    """Messages go to on_publishes in bulk (paho's handler for those with properties), and
    after ack_many the broker holds nothing for the persistent session: a reconnect gets
    only the messages that were never acknowledged."""
    topic = f"test/bulk/{uuid.uuid4().hex[:8]}"
    client_id = f"bulk-{uuid.uuid4().hex[:8]}"
    n = 3000
    got: list[Publish] = []
    calls: list[int] = []
    lock = threading.Lock()
    subscribed, complete = threading.Event(), threading.Event()

    def sink(batch: list[Publish]) -> None:
        with lock:
            got.extend(batch)
            calls.append(len(batch))
            if len(got) >= n + 1:
                complete.set()

    def consumer() -> BufferedClient:
        c = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
            manual_ack=True,
        )  # fmt: skip
        c.on_publishes = sink
        c.on_message = lambda cl, u, m: sink([(m._topic, m.payload, m.mid, m.qos)])
        c.on_subscribe = lambda *a: subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 300
        props.ReceiveMaximum = 65535
        c.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        c.loop_start()
        return c

    sub = consumer()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(10)
        infos = [pub.publish(topic, f"m{i}".encode(), qos=1) for i in range(n)]
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = ("k", "v")
        infos.append(pub.publish(topic, b"with properties", qos=1, properties=props))
        for info in infos:
            info.wait_for_publish(10)
        assert complete.wait(20), len(got)
        assert [p for _, p, _, _ in got] == [f"m{i}".encode() for i in range(n)] + [
            b"with properties"
        ]
        assert {t for t, _, _, _ in got} == {topic.encode()}
        assert max(calls) > 1  # really delivered in bulk
        # Acknowledge all but the last ten, then come back on the same session.
        sub.ack_many([mid for _, _, mid, _ in got[:-10]])
        time.sleep(0.5)
        sub.disconnect()
        sub.loop_stop()
        with lock:
            expected_again = [p for _, p, _, _ in got[-10:]]
            got.clear()
            complete.clear()
        subscribed.clear()
        sub = consumer()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(got) < 10:
            time.sleep(0.05)
        time.sleep(0.5)  # anything more would arrive now
        assert [p for _, p, _, _ in got] == expected_again
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.disconnect()
        sub.loop_stop()
