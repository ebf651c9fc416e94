"""Any other declared kind: typical values from its declaration, at its own interval."""

from __future__ import annotations

from datetime import datetime

from core.kinds import DeviceKind
from simulators.fleet import SimDevice
from simulators.models import Item, at_or_after_boundary, next_boundary, rng_for
from simulators.values import typical_values
from simulators.world import Conditions


class GenericModel:
    def __init__(self, device: SimDevice, kind: DeviceKind, seed: int) -> None:
        self.device = device
        self.kind = kind
        self.seed = seed

    def first_due(self, start: datetime) -> datetime:
        return at_or_after_boundary(start, self.kind.interval_s)

    def step(self, t: datetime, world: Conditions) -> tuple[list[Item], datetime]:
        rng = rng_for(self.seed, self.device.id, t.timestamp())
        item: Item = {"ts": t, **typical_values(self.kind, rng)}
        return [item], next_boundary(t, self.kind.interval_s)
