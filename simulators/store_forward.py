"""Store-and-forward, as a device following the wire contract does it.

The broker's PUBACK is not storage (a broker crash loses what arrived since its last
autosave), so a device keeps every telemetry message it sent until ingest's retained
watermark on ``{root}/{kind}/{id}/stored`` reaches the message's newest ``ts``, and after
each reconnect resends the kept messages newer than the watermark; a message still not
confirmed ``retry_s`` after it was sent is resent too (what was acknowledged by a broker
that then crashed before anyone subscribed is confirmed by nobody). The buffer is bounded
(as a real device's flash is): past ``max_messages`` the oldest is dropped and counted.

:class:`StoreAndForward` does that for one MQTT client carrying one device or many (the
simulator's shared connection); the simulators' :class:`~simulators.publisher.Sender` and
the reliability tests use it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.wire import Topics, decode_watermark, parse_timestamp

MAX_MESSAGES = 10_000
"""Unconfirmed messages kept per device (about 2 MB at typical sizes)."""


def newest_ts(payload: bytes) -> datetime | None:
    """The newest ``ts`` in a telemetry payload (an object or a backlog array)."""
    try:
        data = orjson.loads(payload)
        items = data if isinstance(data, list) else [data]
        return max(parse_timestamp(i["ts"]) for i in items if isinstance(i, dict))
    except Exception:
        return None


class UnconfirmedBuffer:
    """One device's sent-but-not-confirmed messages, oldest first."""

    def __init__(self, max_messages: int = MAX_MESSAGES) -> None:
        self._max = max_messages
        self._items: deque[list[Any]] = deque()  # [ts, payload, sent at (monotonic)]
        self.watermark: datetime | None = None
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, ts: datetime, payload: bytes, at: float = 0.0) -> None:
        self._items.append([ts, payload, at])
        if len(self._items) > self._max:
            self._items.popleft()
            self.dropped += 1

    def confirm(self, mark: datetime) -> None:
        """A watermark arrived: forget what it covers. It never moves back (a broker that
        crashed may hand out an older retained one; what it covered is still stored)."""
        if self.watermark is None or mark > self.watermark:
            self.watermark = mark
        items = self._items
        while items and items[0][0] <= self.watermark:
            items.popleft()

    def unconfirmed(self, sent_before: float | None = None, now: float = 0.0) -> list[bytes]:
        """Payloads newer than the watermark (sent before ``sent_before``, if given); their
        sent time becomes ``now``."""
        mark = self.watermark
        out = []
        for item in self._items:
            if (mark is None or item[0] > mark) and (sent_before is None or item[2] < sent_before):
                item[2] = now
                out.append(item[1])
        return out


class StoreAndForward:
    """Keeps what ``client`` sent for ``devices`` until it is confirmed stored; resends the
    rest ``resend_delay_s`` after every reconnect (time for the retained watermark to come)."""

    def __init__(
        self,
        topics: Topics,
        *,
        max_messages: int = MAX_MESSAGES,
        resend_delay_s: float = 0.5,
        retry_s: float = 30.0,
    ) -> None:
        self.topics = topics
        self._max = max_messages
        self._delay = resend_delay_s
        self._retry = retry_s
        self._clients: list[tuple[mqtt.Client, list[str]]] = []
        self._stop = threading.Event()
        self._retrier: threading.Thread | None = None
        self._lock = threading.Lock()
        self._buffers: dict[str, UnconfirmedBuffer] = {}
        self._kinds: dict[str, str] = {}
        self.resent = 0

    def attach(self, client: mqtt.Client, devices: Sequence[tuple[str, str]]) -> None:
        """Follow the contract on ``client`` (already connected) for (kind, id) ``devices``.

        Replaces the client's ``on_connect``: it subscribes again and schedules the resend
        on every reconnect (the first connect's callback has done its part by now)."""
        for kind, device_id in devices:
            self._kinds[device_id] = kind
            self._buffers.setdefault(device_id, UnconfirmedBuffer(self._max))
        if len(devices) == 1:
            filters = [self.topics.stored(*devices[0])]
        else:
            filters = [f"{self.topics.root}/+/+/stored"]
        for f in filters:
            client.message_callback_add(f, self._on_stored)

        def on_connect(
            c: mqtt.Client,
            userdata: Any,
            flags: mqtt.ConnectFlags,
            reason: ReasonCode,
            props: Properties | None,
        ) -> None:
            if reason.is_failure:
                return
            c.subscribe([(f, 1) for f in filters])
            ids = [d for _, d in devices]
            threading.Timer(self._delay, self._resend, (c, ids)).start()

        client.on_connect = on_connect
        client.subscribe([(f, 1) for f in filters])
        self._clients.append((client, [d for _, d in devices]))
        if self._retrier is None:
            self._retrier = threading.Thread(target=self._retry_loop, daemon=True)
            self._retrier.start()

    def _retry_loop(self) -> None:
        while not self._stop.wait(min(1.0, self._retry / 4)):
            for client, ids in list(self._clients):
                if client.is_connected():
                    self._resend(client, ids, time.monotonic() - self._retry)

    def close(self) -> None:
        self._stop.set()

    def _on_stored(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        mark = decode_watermark(bytes(msg.payload))
        if mark is None or len(parts) < 3:
            return
        with self._lock:
            buf = self._buffers.get(parts[-2])
            if buf is not None:
                buf.confirm(mark)

    def sent(self, device_id: str, payload: bytes) -> None:
        """Keep a telemetry message just published for ``device_id``."""
        ts = newest_ts(payload)
        if ts is None:
            return
        with self._lock:
            self._buffers[device_id].add(ts, payload, time.monotonic())

    def _resend(
        self, client: mqtt.Client, ids: list[str], sent_before: float | None = None
    ) -> None:
        now = time.monotonic()
        with self._lock:
            again = [(d, p) for d in ids for p in self._buffers[d].unconfirmed(sent_before, now)]
        for d, payload in again:
            client.publish(self.topics.telemetry(self._kinds[d], d), payload, qos=1)
        self.resent += len(again)

    def unconfirmed(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._buffers.values())

    def dropped(self) -> int:
        with self._lock:
            return sum(b.dropped for b in self._buffers.values())
