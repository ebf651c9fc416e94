"""A paho client that reads the socket in 64 KiB chunks and hands over PUBLISH packets in bulk.

paho reads each packet with several tiny ``recv`` calls (command byte, each length byte,
then the body) and handles one packet per ``select``; at thousands of messages a second
that is about half of ingest's CPU. Here the socket is wrapped in a read buffer that
reports its unread bytes through ``pending()`` (the hook paho already honours for TLS
sockets), and ``loop_read`` keeps going while the buffer holds data.

Plain PUBLISH packets (MQTT 5, QoS 0 or 1 with manual acks, no properties: what devices
send) are cut straight out of that buffer, many at a time, and passed as
``(topic, payload, mid, qos)`` tuples to :attr:`BufferedClient.on_publishes` when it is
set, skipping paho's per-message parsing, ``MQTTMessage``, ``Properties`` and topic
matching. Anything else (properties present, QoS 2, automatic acks, a packet cut off by
the end of the buffer, other packet types) goes through paho as before. Acknowledgements
of a whole batch go out as one write (:meth:`BufferedClient.ack_many`).
Everything else, including reconnects and TLS, is plain paho.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CHUNK = 64 * 1024

Publish = tuple[bytes, bytes, int, int]
"""A PUBLISH cut out of the stream: (topic bytes, payload, packet id, QoS)."""

_PUBLISH = 0x30
_PUBACK = 0x40


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def plain_publish(buf: bytes, start: int, end: int, qos: int) -> Publish | None:
    """The PUBLISH whose variable header and payload are ``buf[start:end]``, or ``None`` if
    it carries properties (or a topic alias), which paho decodes, or is cut short."""
    if end - start < 3:
        return None
    t_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
    props = t_end + 2 if qos else t_end  # QoS 1 carries a packet id before the properties
    if props >= end or buf[props] != 0:
        return None
    mid = (buf[t_end] << 8) | buf[t_end + 1] if qos else 0
    return (buf[start + 2 : t_end], buf[props + 1 : end], mid, qos)


def take_publishes(buf: bytes, pos: int, out: list[Publish]) -> int:
    """Append every complete plain PUBLISH packet from ``buf[pos:]`` to ``out``.

    Stops at the first packet that is not a plain MQTT 5 PUBLISH with QoS 0 or 1 and no
    properties, or that is not complete yet, and returns its offset: paho reads it from
    there. Never raises on malformed input; it just stops and lets paho report it.
    """
    n = len(buf)
    while pos < n:
        header = buf[pos]
        if header & 0xF0 != _PUBLISH or header & 0x06 > 0x02:
            return pos
        i = pos + 1
        length = 0
        shift = 0
        while True:
            if i >= n or shift > 21:
                return pos  # length not all here yet, or longer than MQTT allows
            b = buf[i]
            i += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        end = i + length
        if end > n:
            return pos
        publish = plain_publish(buf, i, end, (header >> 1) & 1)
        if publish is None:
            return pos
        out.append(publish)
        pos = end
    return pos


class BufferedSocket:
    """A read-buffering proxy for a non-blocking socket (send/fileno/close pass through)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data: bytes = self._sock.recv(max(bufsize, CHUNK))  # may raise BlockingIOError
            if len(data) <= bufsize:
                return data
            self._buf, self._pos = data, 0
        chunk = self._buf[self._pos : self._pos + bufsize]
        self._pos += len(chunk)
        return chunk

    def take_publishes(self, out: list[Publish]) -> None:
        """Move the complete plain PUBLISH packets at the head of the buffer into ``out``."""
        if self._pos < len(self._buf):
            self._pos = take_publishes(self._buf, self._pos, out)

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    on_publishes: Callable[[list[Publish]], None] | None = None
    """Receives plain PUBLISH packets in bulk (see the module docstring); when unset, every
    message goes to ``on_message`` as usual. Runs on paho's network thread and must not
    raise; QoS 1 messages it gets are acknowledged only by :meth:`ack_many` (or ``ack``)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        current = self._sock
        if not isinstance(current, BufferedSocket):
            return super().loop_read(max_packets)
        sock: BufferedSocket = current
        bulk = self.on_publishes is not None and self._protocol == mqtt.MQTTv5 and self._manual_ack
        while True:
            if bulk and self._in_packet["command"] == 0:  # paho is between packets
                self._deliver_buffered(sock)
            rc = super().loop_read(max_packets)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not sock:
                return rc
            if sock.pending() <= 0:
                return rc

    def _deliver_buffered(self, sock: BufferedSocket) -> None:
        got: list[Publish] = []
        sock.take_publishes(got)
        if got:
            self._hand_over(got)

    def _hand_over(self, publishes: list[Publish]) -> None:
        with self._msgtime_mutex:
            self._last_bytes_received = time.monotonic()
        sink = self.on_publishes
        if sink is not None:
            with self._in_callback_mutex:
                sink(publishes)

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK (success, MQTT 5 short form) every message id, queued as one write."""
        if mids:
            words = [(_PUBACK << 24) | (2 << 16) | mid for mid in mids]
            self._packet_queue(_PUBACK, struct.pack(f"!{len(words)}I", *words), 0, 1)

    def publish_retained(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """PUBLISH each (topic, payload) retained, QoS 0, MQTT 5 without properties, all
        queued as one write: no per-message objects, no acknowledgement to track."""
        if messages:
            out = bytearray()
            for topic, payload in messages:
                out += b"\x31"  # PUBLISH, QoS 0, retain
                out += _remaining_length(2 + len(topic) + 1 + len(payload))
                out += struct.pack("!H", len(topic))
                out += topic
                out += b"\x00"  # no properties
                out += payload
            self._packet_queue(0, bytes(out), 0, 0)

    _no_properties: Properties | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if self._protocol != mqtt.MQTTv5 or qos > 1 or (qos == 1 and not self._manual_ack):
            return super()._handle_publish()
        packet = bytes(self._in_packet["packet"])
        publish = plain_publish(packet, 0, len(packet), qos)
        if publish is None:
            return super()._handle_publish()  # properties, or malformed: paho reports it
        if self.on_publishes is not None:
            self._hand_over([publish])
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        topic, payload, mid, _ = publish
        if self._no_properties is None:
            self._no_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        message = mqtt.MQTTMessage(mid=mid, topic=topic)
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.properties = self._no_properties
        message.payload = payload
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
