"""Continuous telemetry through faults, and the count of what became of it.

Two kinds of devices publish at a steady rate from their own plain paho clients (not the
project's simulator loop), one reading per message, each reading with its own time:

- *contract* devices follow the store-and-forward contract (``simulators.store_forward``:
  keep each reading until the ``stored`` watermark covers it, resend after a reconnect);
- *plain* devices publish QoS 1 and forget a reading once the broker acknowledged it.

Publishing never waits for anything to be ready: a fault lands while traffic flows, and
the publishers keep going (paho reconnects in the background).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from core.wire import Topics
from simulators.store_forward import StoreAndForward


@dataclass
class Tally:
    published: int = 0
    acked: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0


class Devices:
    """``count`` flood gauges on one connection; ``contract`` says which kind they are."""

    def __init__(self, port: int, prefix: str, count: int, *, contract: bool) -> None:
        self.topics = Topics()
        self.ids = [f"{prefix}-{i:03d}" for i in range(count)]
        self.contract = contract
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self._seq = 0
        self._lock = threading.Lock()
        self.sent: dict[int, tuple[str, int]] = {}  # paho mid -> (device, seq), until acked
        self.acked: set[tuple[str, int]] = set()
        self._early: set[int] = set()  # PUBACKs that came before publish() returned
        self.published = 0
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-conn-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=0.1, max_delay=1)
        c.on_publish = self._on_publish
        self.client = c
        c.connect("127.0.0.1", port, keepalive=10)
        c.loop_start()
        deadline = time.monotonic() + 10
        while not c.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.forward: StoreAndForward | None = None
        if contract:
            self.forward = StoreAndForward(self.topics, resend_delay_s=0.5, retry_s=5.0)
            self.forward.attach(c, [("flood_gauge", d) for d in self.ids])

    def _on_publish(self, c: object, u: object, mid: int, rc: object, props: object) -> None:
        with self._lock:
            key = self.sent.pop(mid, None)
            if key is not None:
                self.acked.add(key)
            else:
                self._early.add(mid)

    def ts(self, seq: int) -> datetime:
        return self.base + timedelta(milliseconds=seq)

    def publish_round(self) -> None:
        """One reading from every device."""
        seq = self._seq
        self._seq += 1
        for d in self.ids:
            ts = self.ts(seq)
            payload = b'{"ts":"%s","water_level":%d}' % (ts.isoformat().encode(), seq % 900)
            topic = self.topics.telemetry("flood_gauge", d)
            info = self.client.publish(topic, payload, qos=1)  # never under our lock
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self.acked.add((d, seq))
                else:
                    self.sent[info.mid] = (d, seq)
            if self.forward is not None:
                self.forward.sent(d, payload)
            self.published += 1

    def unconfirmed(self) -> int:
        return self.forward.unconfirmed() if self.forward is not None else 0

    def close(self) -> None:
        if self.forward is not None:
            self.forward.close()
        self.client.disconnect()
        self.client.loop_stop()


class Traffic:
    """Contract and plain devices publishing ``rate`` readings/s in all, until stopped."""

    def __init__(self, port: int, *, devices: int = 20, rate: float = 1000) -> None:
        tag = uuid.uuid4().hex[:5].upper()
        self.contract = Devices(port, f"SF{tag}", devices, contract=True)
        self.plain = Devices(port, f"PL{tag}", devices, contract=False)
        self.rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def all_ids(self) -> list[str]:
        return self.contract.ids + self.plain.ids

    def register(self, url: str) -> None:
        with psycopg.connect(url) as conn:
            conn.cursor().executemany(
                "INSERT INTO devices (id, kind, name) VALUES (%s, 'flood_gauge', 'traffic')",
                [(i,) for i in self.all_ids],
            )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        per_round = len(self.contract.ids) + len(self.plain.ids)
        interval = per_round / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.contract.publish_round()
            self.plain.publish_round()
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def close(self) -> None:
        self.stop()
        self.contract.close()
        self.plain.close()


def stored_keys(url: str, devices: Devices) -> list[tuple[str, datetime]]:
    with psycopg.connect(url, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT device_id, time FROM readings_flood_gauge WHERE device_id = ANY(%s)",
            (devices.ids,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def stored_count(url: str, devices: Devices) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM readings_flood_gauge WHERE device_id = ANY(%s)",
                (devices.ids,),
            ).fetchone()
    except psycopg.OperationalError:
        return -1  # the database is being restarted
    return int(row[0]) if row else 0


def tally(url: str, devices: Devices) -> Tally:
    """Published, acknowledged, stored; lost: acknowledged (plain) or published (contract)
    readings not stored; duplicated: stored more than once, or stored but never sent."""
    keys = stored_keys(url, devices)
    distinct = set(keys)
    expected = {(d, devices.ts(seq)) for d in devices.ids for seq in range(devices._seq)}
    with devices._lock:
        acked = {(d, devices.ts(seq)) for d, seq in devices.acked}
    must = expected if devices.contract else acked
    return Tally(
        published=devices.published,
        acked=len(acked),
        stored=len(keys),
        lost=len(must - distinct),
        duplicated=(len(keys) - len(distinct)) + len(distinct - expected),
    )


@dataclass
class Settled:
    contract: Tally
    plain: Tally
    settle_s: float
    details: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"contract": asdict(self.contract), "plain": asdict(self.plain), **self.details}


def settle(url: str, traffic: Traffic, timeout: float = 60) -> Settled:
    """Stop publishing, then wait until the contract devices have nothing unconfirmed and
    everything they published is stored (or ``timeout``), and count."""
    traffic.stop()
    started = time.monotonic()
    deadline = started + timeout
    want = traffic.contract.published
    while time.monotonic() < deadline:
        if stored_count(url, traffic.contract) >= want and traffic.contract.unconfirmed() == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # stragglers (redeliveries) would show as duplicates
    settled = time.monotonic() - started
    return Settled(
        tally(url, traffic.contract),
        tally(url, traffic.plain),
        round(settled, 2),
        {"unconfirmed": traffic.contract.unconfirmed()},
    )
