"""Load generator: many devices publishing QoS 1 telemetry at a precisely paced rate.

Self-contained (values come straight from the kind declaration), fast (payloads are built
from pre-rendered fragments and sent by a bare-socket QoS 1 publisher,
simulators/raw_publisher.py, which leaves the shared CPU to the system under test) and
multi-process (``processes`` publishers, each owning a disjoint slice of the devices).
Timestamps are unique per device, so every published reading is a distinct row and
``published - stored`` counts what was lost. With one reading per message, ``ts`` is the
publish time in epoch milliseconds (the ingest's publish-to-commit lag metric measures
from it); with a backlog of ``K`` readings, each
message carries K consecutive older milliseconds, as a device resending its buffer.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier

from core.kinds import DeviceKind, FieldType, builtin_kinds
from core.settings import Settings
from core.wire import Topics
from simulators.raw_publisher import MqttError, RawPublisher

_FRAGMENTS = 64
_MAX_OUTSTANDING = 10_000


@dataclass
class LoadResult:
    sent_messages: int
    sent_readings: int
    seconds: float
    achieved_rate: float
    target_rate: float


def load_device_ids(devices: int, device_prefix: str = "LOAD") -> list[str]:
    return [f"{device_prefix}-{i:06d}" for i in range(devices)]


def _value(f: object, rng: random.Random) -> object:
    from core.kinds import TelemetryField

    assert isinstance(f, TelemetryField)
    if f.type is FieldType.BOOL:
        return rng.random() < 0.05
    if f.type is FieldType.ENUM:
        return rng.choice(f.choices)
    lo, hi = f.typical or f.valid or (0.0, 100.0)
    if f.type is FieldType.INT:
        return rng.randint(int(lo), int(hi))
    return round(rng.uniform(lo, hi), 3)


def value_fragments(kind: DeviceKind, rng: random.Random, n: int = _FRAGMENTS) -> list[bytes]:
    """Pre-rendered ``"field":value,...`` JSON members, valid for the kind."""
    out = []
    for _ in range(n):
        doc = {f.name: _value(f, rng) for f in kind.fields}
        out.append(json.dumps(doc, separators=(",", ":"))[1:-1].encode())
    return out


def register_load_devices(settings: Settings, kind: str, ids: list[str]) -> None:
    """Register the load devices so ingest stores (rather than dead-letters) their readings."""
    from core.storage.devices import DeviceRow, upsert_devices
    from core.storage.pool import create_pool

    async def main() -> None:
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            rows = [DeviceRow(i, kind, "load generator", "active", None, None, None) for i in ids]
            for start in range(0, len(rows), 5000):
                await upsert_devices(pool, rows[start : start + 5000])
        finally:
            await pool.close()

    asyncio.run(main())


@dataclass(frozen=True, slots=True)
class _Share:
    ids: list[str]
    rate: float
    messages: int
    readings_per_message: int
    kind: str
    seed: int


def _publish_share(settings: Settings, share: _Share, barrier: Barrier | None) -> tuple[int, float]:
    """Publish this share's messages at its rate; returns (messages acked, seconds)."""
    kind = builtin_kinds()[share.kind]
    rng = random.Random(share.seed)
    frags = value_fragments(kind, rng)
    topics = Topics(settings.topic_root)
    k = share.readings_per_message
    n_dev = len(share.ids)
    per_device = -(-share.messages // n_dev)
    now_ms = int(time.time() * 1000)
    # Backlogs cover consecutive milliseconds ending before now; single readings are "now".
    cursor = [now_ms - per_device * k - 1000] * n_dev if k > 1 else [0] * n_dev

    total = share.messages
    username = settings.mqtt_username or None
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    client = RawPublisher(
        settings.mqtt_host,
        settings.mqtt_port,
        client_id=f"load-{uuid.uuid4().hex[:12]}",
        username=username,
        password=password,
    )
    topic_names = [client.topic(topics.telemetry(share.kind, d)) for d in share.ids]
    if barrier is not None:
        barrier.wait(60)
    t0 = time.perf_counter()
    sent = 0
    try:
        while sent < total:
            elapsed = time.perf_counter() - t0
            due = min(total, int(share.rate * elapsed) + 1)
            if due <= sent:
                time.sleep(max(0.0, (sent / share.rate) - elapsed))
                continue
            packets: list[bytes] = []
            for _ in range(due - sent):
                if sent - client.acked >= _MAX_OUTSTANDING:  # message ids are 16-bit
                    client.send(packets)
                    packets = []
                    if not client.wait_acked(sent - _MAX_OUTSTANDING + 1, 60):
                        raise MqttError(f"no acknowledgements from the broker: {client.error}")
                d = sent % n_dev
                if k == 1:
                    ts = max(int(time.time() * 1000), cursor[d] + 1)
                    cursor[d] = ts
                    payload = b'{"ts":%d,%s}' % (ts, frags[sent % _FRAGMENTS])
                else:
                    start = cursor[d] + 1
                    cursor[d] = start + k - 1
                    payload = (
                        b"["
                        + b",".join(
                            b'{"ts":%d,%s}' % (start + j, frags[(sent + j) % _FRAGMENTS])
                            for j in range(k)
                        )
                        + b"]"
                    )
                packets.append(client.packet(topic_names[d], payload))
                sent += 1
            client.send(packets)
        client.wait_acked(total, max(60.0, total / max(share.rate, 1.0)))
        seconds = time.perf_counter() - t0
        acked = client.acked
    finally:
        client.close()
    return acked, seconds


def _child(
    settings: Settings, share: _Share, barrier: Barrier, out: multiprocessing.Queue[object]
) -> None:
    out.put(_publish_share(settings, share, barrier))


def run_load(
    settings: Settings,
    *,
    devices: int,
    rate: float,
    duration_s: float,
    readings_per_message: int = 1,
    processes: int = 1,
    kind: str = "flood_gauge",
    seed: int = 1,
    device_prefix: str = "LOAD",
    register: bool = True,
) -> LoadResult:
    """Publish ``rate`` messages/s (aggregate) for ``duration_s`` from ``devices`` devices.

    Registers the devices first unless ``register`` is false. Returns when every message
    has been acknowledged by the broker (``seconds`` includes that wait).
    """
    if devices < 1 or rate <= 0 or duration_s <= 0 or readings_per_message < 1:
        raise ValueError("devices, rate, duration and readings per message must be positive")
    if kind not in builtin_kinds():
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(builtin_kinds())}")
    processes = max(1, min(processes, devices))
    ids = load_device_ids(devices, device_prefix)
    if register:
        register_load_devices(settings, kind, ids)
    total = round(rate * duration_s)
    shares = [
        _Share(
            ids=ids[p::processes],
            rate=rate / processes,
            messages=total // processes + (1 if p < total % processes else 0),
            readings_per_message=readings_per_message,
            kind=kind,
            seed=seed * 1000 + p,
        )
        for p in range(processes)
    ]
    if processes == 1:
        acked, seconds = _publish_share(settings, shares[0], None)
        results = [(acked, seconds)]
    else:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(processes)
        queue: multiprocessing.Queue[object] = ctx.Queue()
        procs = [
            ctx.Process(target=_child, args=(settings, s, barrier, queue), daemon=True)
            for s in shares
        ]
        for p in procs:
            p.start()
        results = []
        for _ in procs:
            item = queue.get(timeout=duration_s + 300)
            assert isinstance(item, tuple)
            results.append((int(item[0]), float(item[1])))
        for p in procs:
            p.join(30)
    sent = sum(r[0] for r in results)
    seconds = max(r[1] for r in results)
    return LoadResult(
        sent_messages=sent,
        sent_readings=sent * readings_per_message,
        seconds=seconds,
        achieved_rate=sent / seconds if seconds > 0 else 0.0,
        target_rate=rate,
    )
