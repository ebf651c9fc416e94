"""A paho client that reads the socket in 64 KiB chunks.

paho reads each packet with several tiny ``recv`` calls (command byte, each length byte,
then the body) and handles one packet per ``select``; at thousands of messages a second
that is about half of ingest's CPU. Here the socket is wrapped in a read buffer that
reports its unread bytes through ``pending()`` (the hook paho already honours for TLS
sockets), and ``loop_read`` keeps going while the buffer holds data.

It also decodes the common PUBLISH itself: MQTT 5, QoS 0 or 1 (with manual acks), no
properties. paho builds and parses a ``Properties`` object for every message, about a
quarter of its receive path, though telemetry carries none. Anything else (properties
present, QoS 2, automatic acks, a packet it cannot parse) goes to paho's own handler.
Everything else, including reconnects and TLS, is plain paho.
"""

from __future__ import annotations

import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CHUNK = 64 * 1024


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

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, BufferedSocket):
            if sock.pending() <= 0 or self._sock is not sock:
                break
            rc = super().loop_read(max_packets)
        return rc

    _no_properties: Properties | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if self._protocol != mqtt.MQTTv5 or qos > 1 or (qos == 1 and not self._manual_ack):
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            end = 2 + int.from_bytes(packet[0:2], "big")
            topic = bytes(packet[2:end])
            mid = 0
            if qos:
                mid = int.from_bytes(packet[end : end + 2], "big")
                end += 2
            has_properties = packet[end] != 0  # property length 0: one zero byte
        except IndexError:
            return super()._handle_publish()  # malformed: paho reports it
        if has_properties or len(packet) < end + 1:
            return super()._handle_publish()
        if self._no_properties is None:
            self._no_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        message = mqtt.MQTTMessage(mid=mid, topic=topic)
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.properties = self._no_properties
        message.payload = bytes(packet[end + 1 :])
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
