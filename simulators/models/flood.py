"""An automatic water-level recorder (AWLR) at a river station.

The true level is the station's dry-weather base plus slow noise plus the flood wave of
every rain event upstream: a wave arrives after the station's travel time, rises over the
rain's duration plus an hour, and recedes over hours. The wave's height scales with the
station's own threshold band so that about 100 mm of catchment rain reaches AWAS at every
gauge along the river, in upstream-to-downstream order. The gauge reports every 5 min,
every 2 min at WASPADA and every minute at SIAGA or above; battery and signal every 15
min. Glitches: a lone spike now and then, and spells where the value sticks.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from simulators.fleet import SimDevice
from simulators.geography import Station
from simulators.models import Item, at_or_after_boundary, next_boundary, rng_for
from simulators.solar import daylight
from simulators.world import Conditions, RainEvent

AWAS_AT_MM = 100.0
RECESSION_H = {"Enim": 4.0, "Lematang": 9.0, "Rambang": 6.0}
HOUSEKEEPING_S = 900


def interval_s(station: Station, level: float) -> int:
    if level >= station.siaga_cm:
        return 60
    if level >= station.waspada_cm:
        return 120
    return 300


def alert_level(station: Station, level: float) -> str:
    if level >= station.awas_cm:
        return "AWAS"
    if level >= station.siaga_cm:
        return "SIAGA"
    if level >= station.waspada_cm:
        return "WASPADA"
    return "NORMAL"


def wave(event: RainEvent, station: Station, t: datetime) -> float:
    """Height (cm) that ``event`` adds at ``station`` at time ``t``."""
    reach = event.reach(station)
    if reach is None:
        return 0.0
    lag_h, gain = reach
    tau = (t - event.start).total_seconds() / 3600 - lag_h
    if tau <= 0:
        return 0.0
    peak = event.total_mm * gain * (station.awas_cm - station.base_cm) / AWAS_AT_MM
    rise = event.hours + 1.0
    if tau < rise:
        return peak * (1 - math.cos(math.pi * tau / rise)) / 2
    return peak * math.exp(-(tau - rise) / RECESSION_H.get(station.river, 6.0))


def true_level(station: Station, seed: int, t: datetime, world: Conditions) -> float:
    h = t.timestamp() / 3600
    slow = 4.0 * math.sin(2 * math.pi * h / 24 + (seed % 7)) + 2.0 * math.sin(h / 7.3)
    return station.base_cm + slow + sum(wave(e, station, t) for e in world.rain)


def rain_mm(station: Station, world: Conditions, t0: datetime, t1: datetime) -> float:
    """Rain fallen at the station between ``t0`` and ``t1`` (its catchment's rain)."""
    total = 0.0
    for e in world.rain:
        if e.river != station.river:
            continue
        lo = max(t0, e.start)
        hi = min(t1, e.start + timedelta(hours=e.hours))
        if hi > lo:
            local = 1.0 - 0.08 * station.lag_h  # more rain in the hills upstream
            total += e.mm_per_hour * (hi - lo).total_seconds() / 3600 * max(0.4, local)
    return total


class FloodGaugeModel:
    def __init__(self, device: SimDevice, seed: int) -> None:
        if device.station is None:
            raise ValueError(f"flood gauge {device.id} has no station")
        self.device = device
        self.station = device.station
        self.seed = seed
        rng = rng_for(seed, device.id, "init")
        self.noise = 0.0
        self.rssi_base = rng.uniform(-98, -72)
        self.rssi_drift = 0.0
        self.battery_aging = rng.uniform(0.01, 0.05)  # V per day
        self.stuck_until: datetime | None = None
        self.last_level: float | None = None
        self.last_t: datetime | None = None
        self.start: datetime | None = None

    def first_due(self, start: datetime) -> datetime:
        self.start = start
        return at_or_after_boundary(start, 60)

    def measured(self, t: datetime, world: Conditions) -> float:
        rng = rng_for(self.seed, self.device.id, "level", t.timestamp())
        self.noise = 0.8 * self.noise + rng.gauss(0, 0.6)
        level = true_level(self.station, self.seed, t, world) + self.noise
        if not world.glitches:
            return level
        if self.stuck_until is not None and t < self.stuck_until and self.last_level is not None:
            return self.last_level
        self.stuck_until = None
        roll = rng.random()
        if roll < 0.002 and self.last_level is not None:
            self.stuck_until = t + timedelta(minutes=rng.uniform(10, 40))
            return self.last_level
        if roll > 0.997:
            return level + rng.choice((-1, 1)) * rng.uniform(120, 300)  # a lone spike
        return level

    def step(self, t: datetime, world: Conditions) -> tuple[list[Item], datetime]:
        level = self.measured(t, world)
        prev_t = self.last_t or t - timedelta(seconds=300)
        self.last_t = t
        if self.stuck_until is None or self.last_level is None:
            self.last_level = level
        item: Item = {
            "ts": t,
            "water_level": round(max(-500.0, min(3000.0, level)), 1),
            "rain": round(rain_mm(self.station, world, prev_t, t), 1),
        }
        if t.timestamp() % HOUSEKEEPING_S == 0 or t == self.first_report_time():
            item.update(self.housekeeping(t, world))
        true = true_level(self.station, self.seed, t, world)
        return [item], next_boundary(t, interval_s(self.station, true))

    def first_report_time(self) -> datetime | None:
        return None if self.start is None else at_or_after_boundary(self.start, 60)

    def housekeeping(self, t: datetime, world: Conditions) -> Item:
        rng = rng_for(self.seed, self.device.id, "hk", t.timestamp())
        days = 0.0 if self.start is None else (t - self.start).total_seconds() / 86400
        if self.station.power_source == "PLN":
            volts = 13.6 + rng.gauss(0, 0.03)
        else:
            sun = daylight(t, self.device.row.latitude or -3.7, self.device.row.longitude or 103.8)
            volts = 12.45 + 1.3 * sun - self.battery_aging * days + rng.gauss(0, 0.03)
        self.rssi_drift = max(-8.0, min(8.0, self.rssi_drift + rng.gauss(0, 0.7)))
        raining = rain_mm(self.station, world, t - timedelta(minutes=15), t) > 5
        rssi = self.rssi_base + self.rssi_drift - (6 if raining else 0) + rng.gauss(0, 1.5)
        return {
            "battery_v": round(max(10.5, volts), 2),
            "rssi": max(-113, min(-51, round(rssi))),
            "power_source": self.station.power_source,
        }
