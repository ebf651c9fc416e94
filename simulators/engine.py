"""The simulation: every device's model merged into one time-ordered stream of messages.

Pure and deterministic for a fleet, conditions, time range and seed; the publisher only
paces and sends what :func:`plan` yields. Devices whose uplink node is down keep their
readings and resend them, shuffled, as backlog arrays once the node is back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.kinds import KindRegistry
from core.wire import encode_telemetry
from simulators.firmware import malformed
from simulators.fleet import SimDevice
from simulators.models import DeviceModel, Item, rng_for
from simulators.models.flood import FloodGaugeModel
from simulators.models.generic import GenericModel
from simulators.models.network import NetworkNodeModel
from simulators.models.streetlight import StreetlightModel, light_quirks
from simulators.world import Conditions

BACKLOG_CHUNK = 100
"""Readings per backlog array: well under ingest's payload limit for every kind."""


@dataclass(frozen=True, slots=True)
class Emission:
    at: datetime
    """Simulated time the message leaves the device."""
    device: SimDevice
    items: tuple[Item, ...]
    raw: bytes | None = None
    """Set when broken firmware garbles the message: these bytes go out instead."""
    backlog: bool = False

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        body = encode_telemetry(list(self.items))
        if self.backlog and len(self.items) == 1:
            return b"[" + body + b"]"  # a backlog is an array, even of one
        return body


def build_models(
    fleet: Sequence[SimDevice], kinds: KindRegistry, seed: int, start: datetime, end: datetime
) -> list[DeviceModel]:
    models: list[DeviceModel] = []
    for dev in fleet:
        if dev.kind == "streetlight":
            q = light_quirks(dev, seed, start, end)
            fail_at = q["fail_at"]
            assert fail_at is None or isinstance(fail_at, datetime)
            models.append(
                StreetlightModel(dev, seed, fail_at=fail_at, day_burner=bool(q["day_burner"]))
            )
        elif dev.kind == "flood_gauge" and dev.station is not None:
            models.append(FloodGaugeModel(dev, seed))
        elif dev.kind == "network_node":
            models.append(NetworkNodeModel(dev, seed))
        else:
            models.append(GenericModel(dev, kinds[dev.kind], seed))
    return models


def _route_down(dev: SimDevice, t: datetime, world: Conditions) -> datetime | None:
    """If ``dev`` cannot reach the broker at ``t``, when its route comes back."""
    if dev.kind == "network_node":
        own = world.node_outage(dev.id, t)
        if own is not None and own.cause == "backhaul":
            return own.window.end
    if dev.uplink is not None:
        up = world.node_outage(dev.uplink, t)
        if up is not None:
            return up.window.end
    return None


def plan(
    fleet: Sequence[SimDevice],
    kinds: KindRegistry,
    world: Conditions,
    start: datetime,
    end: datetime,
    seed: int,
) -> Iterator[Emission]:
    """Every message the fleet sends in ``[start, end)``, in simulated-time order."""
    models = build_models(fleet, kinds, seed, start, end)
    heap: list[tuple[datetime, int, int, bool]] = []
    seq = 0
    for i, m in enumerate(models):
        heapq.heappush(heap, (m.first_due(start), seq, i, False))
        seq += 1
    buffers: dict[int, list[Item]] = {}
    flush_pending: set[int] = set()
    sent: dict[int, int] = {}
    while heap:
        t, _, i, is_flush = heapq.heappop(heap)
        if t >= end:
            continue
        dev = fleet[i]
        if is_flush:
            back = _route_down(dev, t, world)
            if back is not None:
                heapq.heappush(heap, (back, seq, i, True))
                seq += 1
                continue
            flush_pending.discard(i)
            items = buffers.pop(i, [])
            rng_for(seed, dev.id, "backlog", t.timestamp()).shuffle(items)
            for k in range(0, len(items), BACKLOG_CHUNK):
                yield Emission(t, dev, tuple(items[k : k + BACKLOG_CHUNK]), backlog=True)
            continue
        items, due = models[i].step(t, world)
        if due <= t:
            raise RuntimeError(f"model of {dev.id} did not advance at {t.isoformat()}")
        heapq.heappush(heap, (due, seq, i, False))
        seq += 1
        if not items:
            continue
        back = _route_down(dev, t, world)
        if back is not None:
            buffers.setdefault(i, []).extend(items)
            if i not in flush_pending:
                flush_pending.add(i)
                jitter = rng_for(seed, dev.id, "jitter", back.timestamp()).uniform(60, 180)
                heapq.heappush(heap, (back + timedelta(seconds=jitter), seq, i, True))
                seq += 1
            continue
        bad = world.bad_firmware(dev.id, t)
        if bad is not None:
            n = sent.get(i, 0)
            sent[i] = n + 1
            if n % bad.every == 0:
                yield Emission(t, dev, tuple(items), raw=malformed(items[0], n // bad.every))
                continue
        yield Emission(t, dev, tuple(items))


def rounds(
    fleet: Sequence[SimDevice],
    kinds: KindRegistry,
    world: Conditions,
    n: int | None,
    seed: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    models: Sequence[DeviceModel] | None = None,
) -> Iterator[list[tuple[SimDevice, Item]]]:
    """``n`` rounds (``None``: endless) of one reading per device, stamped by ``clock``.

    Pass ``models`` (one per device, as :func:`build_models` makes them) to keep a hand on
    them, e.g. so commands can change them while the rounds run.
    """
    now = clock()
    if models is None:
        models = build_models(fleet, kinds, seed, now, now + timedelta(days=1))
    for m in models:
        m.first_due(now)
    done = 0
    while n is None or done < n:
        t = clock()
        t = t.replace(microsecond=t.microsecond // 1000 * 1000)  # ms: rounds may be < 1 s apart
        batch = []
        for dev, m in zip(fleet, models, strict=True):
            items, _ = m.step(t, world)
            batch += [(dev, item) for item in items]
        yield batch
        done += 1
