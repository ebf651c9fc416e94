"""A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket, for the load generator.

paho spends ~55 us of CPU per QoS 1 message (building the packet, then decoding each
PUBACK into objects); on a machine where the load generator shares the cores with the
broker, the database and ingest, that CPU is taken from the system under test. Here a
PUBLISH is a few bytes joined together, a batch of them goes out in one ``sendall``, and
a reader thread counts PUBACKs straight from the byte stream. It does only what the load
generator needs: connect (optionally with credentials), publish QoS 1, count
acknowledgements, disconnect.
"""

from __future__ import annotations

import socket
import struct
import threading


class MqttError(Exception):
    pass


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id.encode())
    if username is not None:
        flags |= 0x80
        payload += _string(username.encode())
        if password is not None:
            flags |= 0x40
            payload += _string(password.encode())
    body = _string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 0) + payload
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, mid: int, payload: bytes) -> bytes:
    """PUBLISH, QoS 1, not retained; ``topic`` already carries its 2-byte length prefix."""
    n = len(topic) + 2 + len(payload)
    return b"\x32" + _remaining_length(n) + topic + struct.pack("!H", mid) + payload


class RawPublisher:
    """Publish QoS 1 messages; :attr:`acked` counts the broker's PUBACKs."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id, username, password))
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            self._sock.close()
            raise MqttError(f"broker refused the connection (CONNACK {connack.hex()})")
        self._sock.settimeout(None)
        self.acked = 0
        self.error: str | None = None
        self._mid = 0
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise MqttError("broker closed the connection")
            data += chunk
        return data

    def topic(self, name: str) -> bytes:
        """A topic, encoded once for many :meth:`packet` calls."""
        return _string(name.encode())

    def packet(self, topic: bytes, payload: bytes) -> bytes:
        self._mid = self._mid % 65535 + 1
        return publish_packet(topic, self._mid, payload)

    def send(self, packets: list[bytes]) -> None:
        self._sock.sendall(b"".join(packets))

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                buf += data
                acks = pos = 0
                while len(buf) - pos >= 2:
                    # PUBACKs are 4 bytes (0x40 0x02 mid); anything else is skipped whole.
                    kind, length = buf[pos], buf[pos + 1]
                    if length & 0x80:
                        raise MqttError(f"unexpected packet 0x{kind:02x} from the broker")
                    if len(buf) - pos < 2 + length:
                        break
                    if kind & 0xF0 == 0x40:
                        acks += 1
                    pos += 2 + length
                buf = buf[pos:]
                if acks:
                    with self._changed:
                        self.acked += acks
                        self._changed.notify_all()
        except (OSError, MqttError) as exc:
            self.error = repr(exc)
        with self._changed:
            if self.error is None:
                self.error = "broker closed the connection"
            self._changed.notify_all()

    def wait_acked(self, at_least: int, timeout: float) -> bool:
        """Wait until ``at_least`` PUBACKs arrived (False on timeout or a lost connection)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.acked >= at_least or self.error is not None, timeout
            ) and (self.acked >= at_least)

    def close(self) -> None:
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)
