"""What happens around the devices: rain, grid outages, node outages, broken firmware.

Pure data with absolute simulated times. Scenarios declare events; :func:`background`
adds the everyday incidents (afternoon showers, short backhaul drops, power cuts) drawn
from the seed, so a plain run looks like a normal week in the regency.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from simulators.fleet import SimDevice
from simulators.geography import CONFLUENCE_ATTENUATION, RIVER_BY_NAME, RIVERS, Station


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def covers(self, t: datetime) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class RainEvent:
    river: str
    start: datetime
    hours: float
    mm_per_hour: float

    @property
    def total_mm(self) -> float:
        return self.hours * self.mm_per_hour

    def reach(self, station: Station) -> tuple[float, float] | None:
        """(lag in hours, gain factor) of this event's flood wave at ``station``, if any."""
        if station.river == self.river:
            return station.lag_h, 1.0
        river = RIVER_BY_NAME.get(self.river)
        if river is not None and river.joins == station.river:
            return river.joins_after_h + station.lag_h, CONFLUENCE_ATTENUATION
        return None


@dataclass(frozen=True, slots=True)
class GridOutage:
    window: Window
    district: str | None = None
    feeder: str | None = None

    def affects(self, device: SimDevice) -> bool:
        if self.feeder is not None:
            return device.feeder == self.feeder
        return device.row.district == self.district


@dataclass(frozen=True, slots=True)
class NodeOutage:
    node_id: str
    window: Window
    cause: Literal["power_cut", "backhaul"]


@dataclass(frozen=True, slots=True)
class BadFirmware:
    device_id: str
    window: Window
    every: int
    """Every n-th message of the device is malformed (1: all of them)."""


@dataclass(slots=True)
class Conditions:
    rain: list[RainEvent] = field(default_factory=list)
    grid: list[GridOutage] = field(default_factory=list)
    nodes: list[NodeOutage] = field(default_factory=list)
    firmware: list[BadFirmware] = field(default_factory=list)
    glitches: bool = True
    """Sensor glitches (spikes, stuck values) on the gauges."""

    def grid_outage(self, device: SimDevice, t: datetime) -> GridOutage | None:
        for g in self.grid:
            if g.window.covers(t) and g.affects(device):
                return g
        return None

    def node_outage(self, node_id: str, t: datetime) -> NodeOutage | None:
        for n in self.nodes:
            if n.node_id == node_id and n.window.covers(t):
                return n
        return None

    def bad_firmware(self, device_id: str, t: datetime) -> BadFirmware | None:
        for b in self.firmware:
            if b.device_id == device_id and b.window.covers(t):
                return b
        return None

    def boundaries(self, device: SimDevice) -> list[datetime]:
        """Times at which this device's surroundings change (grid power)."""
        out = []
        for g in self.grid:
            if g.affects(device):
                out += [g.window.start, g.window.end]
        return out

    def phase(self, t: datetime) -> str:
        """What is going on at ``t``, for the live summary."""
        active = [
            f"rain on the {r.river} ({r.mm_per_hour:g} mm/h)"
            for r in self.rain
            if r.start <= t < r.start + timedelta(hours=r.hours) and r.mm_per_hour >= 10
        ]
        for r in self.rain:
            river = RIVER_BY_NAME.get(r.river)
            rain_end = r.start + timedelta(hours=r.hours)
            if river is None or r.total_mm < 40 or t < rain_end:
                continue
            travel = max(st.lag_h for st in river.stations) + r.hours + 1 + 3
            if t < r.start + timedelta(hours=travel):
                active.append(f"flood wave moving down the {r.river}")
        active += [f"grid outage {g.feeder or g.district}" for g in self.grid if g.window.covers(t)]
        active += [
            f"node {n.node_id} down ({n.cause})"
            for n in self.nodes
            if n.window.covers(t) and n.window.end - n.window.start >= timedelta(hours=1)
        ]
        active += [f"bad firmware on {b.device_id}" for b in self.firmware if b.window.covers(t)]
        return "; ".join(active) or "normal"


def background(fleet: Sequence[SimDevice], start: datetime, end: datetime, seed: int) -> Conditions:
    """Everyday incidents between ``start`` and ``end``, the same for the same seed."""
    rng = random.Random(f"background:{seed}:{start.isoformat()}")
    out = Conditions()
    days = max(1, round((end - start) / timedelta(days=1) + 0.5))
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for d in range(days):
        day = day0 + timedelta(days=d)
        for river in RIVERS:
            # Tropical afternoon showers: small rises, no alarms.
            if rng.random() < 0.35:
                at = day + timedelta(hours=rng.uniform(6, 11))  # 13:00-18:00 WIB in UTC
                out.rain.append(RainEvent(river.name, at, rng.uniform(0.5, 2), rng.uniform(3, 9)))
        for dev in fleet:
            if dev.kind != "network_node":
                continue
            if rng.random() < 0.06:
                at = day + timedelta(hours=rng.uniform(0, 24))
                w = Window(at, at + timedelta(minutes=rng.uniform(5, 40)))
                out.nodes.append(NodeOutage(dev.id, w, "backhaul"))
            if rng.random() < 0.03:
                at = day + timedelta(hours=rng.uniform(0, 24))
                w = Window(at, at + timedelta(minutes=rng.uniform(20, 90)))
                out.nodes.append(NodeOutage(dev.id, w, "power_cut"))
    return out


def merge(a: Conditions, b: Conditions) -> Conditions:
    return Conditions(
        rain=[*a.rain, *b.rain],
        grid=[*a.grid, *b.grid],
        nodes=[*a.nodes, *b.nodes],
        firmware=[*a.firmware, *b.firmware],
        glitches=a.glitches and b.glitches,
    )
