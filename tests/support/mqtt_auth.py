"""MQTT v5 probes that report the broker's reason codes (connect and per-publish)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SUCCESS = 0
NO_MATCHING_SUBSCRIBERS = 16  # accepted; nobody is subscribed
NOT_AUTHORIZED = 135
BAD_CREDENTIALS = 134


class Session:
    """A connected v5 client; ``publish`` returns the PUBACK reason code."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self._acks: dict[int, int] = {}
        self._cond = threading.Condition()
        self.received: list[tuple[str, bytes]] = []
        self.disconnects = 0
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect

    def _on_disconnect(self, *args: object) -> None:
        self.disconnects += 1

    def _on_publish(
        self, client: object, userdata: object, mid: int, rc: object, props: object
    ) -> None:
        with self._cond:
            self._acks[mid] = int(getattr(rc, "value", 0))
            self._cond.notify_all()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, timeout: float = 5) -> int:
        info = self.client.publish(topic, payload, qos=1)
        with self._cond:
            ok = self._cond.wait_for(lambda: info.mid in self._acks, timeout)
        if not ok:
            raise AssertionError(f"no PUBACK for {topic} within {timeout}s")
        return self._acks[info.mid]

    def subscribe(self, topic: str, timeout: float = 5) -> int:
        """Subscribe at QoS 1; the SUBACK's reason code (0-2 granted, >= 128 refused)."""
        got: list[int] = []
        done = threading.Event()

        def on_subscribe(
            client: object, userdata: object, mid: int, codes: list[object], props: object
        ) -> None:
            got.extend(int(getattr(c, "value", 0)) for c in codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic, qos=1)
        if not done.wait(timeout):
            raise AssertionError(f"no SUBACK for {topic} within {timeout}s")
        return got[0]

    def wait_received(self, n: int, timeout: float = 5) -> list[tuple[str, bytes]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)


def _client(username: str | None, password: str | None, client_id: str | None) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    if username is not None:
        c.username_pw_set(username, password)
    return c


def connect_code(port: int, username: str | None, password: str | None) -> int:
    """The CONNACK reason code the broker gives these credentials (0 = accepted)."""
    with session(port, username, password, require=False) as s:
        return s if isinstance(s, int) else SUCCESS


@contextmanager
def session(
    port: int,
    username: str | None,
    password: str | None,
    *,
    require: bool = True,
    client_id: str | None = None,
) -> Iterator[Session | int]:
    """A connected probe; ``client_id`` asks for that id (the broker may assign another)."""
    c = _client(username, password, client_id)
    done = threading.Event()
    result: dict[str, int] = {}

    def on_connect(
        client: object, userdata: object, flags: object, rc: object, props: object
    ) -> None:
        result["rc"] = int(getattr(rc, "value", rc))  # type: ignore[call-overload]
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        if not done.wait(5):
            raise AssertionError("no CONNACK within 5s")
        if result["rc"] != SUCCESS:
            if require:
                raise AssertionError(f"connect refused with reason {result['rc']}")
            yield result["rc"]
            return
        s = Session(c)
        yield s
    finally:
        c.disconnect()
        c.loop_stop()
