"""The end-to-end acknowledgement: each device's "stored up to" watermark, published retained.

The broker's PUBACK only says the broker has a reading; a broker crash loses what arrived
since its last autosave. So after each commit ingest tells every device in the batch the
newest device time (``ts``) of its readings committed so far, as a retained message on
``{root}/{kind}/{id}/stored``; a device keeps each reading until a watermark at or after
its ``ts`` arrives, and resends the newer ones after a reconnect.

Cheap by construction: batches only note the newest time per device in a dict (no I/O on
the commit path); a separate task publishes what changed at most every ``interval_s``,
one retained message per device however many batches it spanned. Batches are noted in
the order they were received (see :meth:`IngestService._commit_and_ack`), so a watermark
never passes a reading of an earlier batch that is still being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import datetime

import paho.mqtt.client as mqtt

from core.wire import Topics, encode_watermark
from ingest.buffered_client import BufferedClient

MAX_DEVICES = 200_000
"""Devices remembered (to skip republishing an unchanged watermark); past this, forget all."""


class WatermarkPublisher:
    def __init__(self, topics: Topics, *, interval_s: float = 0.2) -> None:
        self._topics = topics
        self._interval = interval_s
        self._pending: dict[str, tuple[str, datetime]] = {}
        self._sent: dict[str, datetime] = {}
        self._topic_bytes: dict[str, bytes] = {}
        self._wake: asyncio.Event | None = None
        self._hold_until = 0.0
        self.published = 0

    def hold(self, seconds: float) -> None:
        """Publish nothing for ``seconds`` (thread-safe: called from paho's thread).

        A max-watermark assumes that a device's readings reach ingest in order. When the
        broker had no subscription for ingest for a while (it came back without ingest's
        session or queue), what devices sent meanwhile was dropped, and the next watermark
        would cover it: devices would forget readings nobody stored. Holding watermarks for
        longer than devices' retry interval lets those readings be resent and stored first.
        """
        self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    @property
    def holding(self) -> bool:
        return time.monotonic() < self._hold_until

    def committed(self, newest: Iterable[tuple[str, str, datetime]]) -> None:
        """Note a committed batch's (device, kind, newest reading time) per device (call in
        batch order; :attr:`core.storage.batches.BatchResult.newest`)."""
        pending = self._pending
        sent = self._sent
        for device_id, kind, ts in newest:
            cur = pending.get(device_id)
            if cur is None:
                last = sent.get(device_id)
                if last is None or ts > last:
                    pending[device_id] = (kind, ts)
            elif ts > cur[1]:
                pending[device_id] = (kind, ts)
        if pending and self._wake is not None:
            self._wake.set()

    def flush(self, client: mqtt.Client) -> int:
        """Publish every changed watermark (retained, QoS 0: the broker keeps a retained
        message whatever its QoS, a device reads it on every subscribe, and a lost one is
        superseded by the next); kept for later while disconnected."""
        if not self._pending or not client.is_connected() or self.holding:
            return 0
        items, self._pending = self._pending, {}
        if len(self._sent) + len(items) > MAX_DEVICES:
            self._sent.clear()
            self._topic_bytes.clear()
        topics = self._topics
        names = self._topic_bytes
        messages = []
        for device_id, (kind, ts) in items.items():
            topic = names.get(device_id)
            if topic is None:
                topic = names[device_id] = topics.stored(kind, device_id).encode()
            messages.append((topic, encode_watermark(ts)))
            self._sent[device_id] = ts
        if isinstance(client, BufferedClient):
            client.publish_retained(messages)
        else:
            for topic, payload in messages:
                client.publish(topic.decode(), payload, 0, True)
        self.published += len(items)
        return len(items)

    async def run(self, client: mqtt.Client, stop: asyncio.Event) -> None:
        """Publish changes as they come, at most every ``interval_s``, until ``stop``."""
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            waking = asyncio.ensure_future(wake.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waking, stopping}, return_when=asyncio.FIRST_COMPLETED)
            waking.cancel()
            stopping.cancel()
            wake.clear()
            self.flush(client)
            if self._pending:  # disconnected or holding: try again shortly
                wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
        self.flush(client)
