"""Pure device models: state in, readings out, for a given simulated time.

Each model is deterministic for its seed. :meth:`DeviceModel.step` is called at the time
the model asked for (its due time) and returns the readings the device produces at that
moment plus the next time it wants to be called; nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Protocol

from core.wire import Value
from simulators.fleet import SimDevice
from simulators.world import Conditions

Item = dict[str, Value | datetime]
"""One reading as a device encodes it: ``ts`` plus field values."""


class DeviceModel(Protocol):
    device: SimDevice

    def first_due(self, start: datetime) -> datetime: ...

    def step(self, t: datetime, world: Conditions) -> tuple[list[Item], datetime]: ...


def rng_for(*parts: object) -> random.Random:
    """A random source fixed by its parts (seed, device, time...), independent of call order."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def next_boundary(t: datetime, every_s: int) -> datetime:
    """The first multiple of ``every_s`` seconds (since the epoch) strictly after ``t``."""
    ts = t.timestamp()
    return datetime.fromtimestamp((ts // every_s + 1) * every_s, tz=t.tzinfo)


def at_or_after_boundary(t: datetime, every_s: int) -> datetime:
    ts = t.timestamp()
    if ts % every_s == 0:
        return t
    return next_boundary(t, every_s)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
