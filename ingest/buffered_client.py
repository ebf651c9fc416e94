"""A paho client that reads the socket in 64 KiB chunks.

paho reads each packet with several tiny ``recv`` calls (command byte, each length byte,
then the body) and handles one packet per ``select``; at thousands of messages a second
that is about half of ingest's CPU. Here the socket is wrapped in a read buffer that
reports its unread bytes through ``pending()`` (the hook paho already honours for TLS
sockets), and ``loop_read`` keeps going while the buffer holds data. Everything else,
including reconnects and TLS, is plain paho.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

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
