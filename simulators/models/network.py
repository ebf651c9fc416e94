"""A village network node (LTE or VSAT backhaul, WiFi for the village, LoRa for sensors).

Clients and throughput follow the village's day: quiet before dawn, a midday bump and
an evening peak; latency and loss grow with load. On a grid outage the node runs on its
battery (board voltage sags). A power cut switches it off (no readings; uptime restarts);
a backhaul outage keeps it running but cut off (the engine buffers what it reports).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from simulators.fleet import SimDevice
from simulators.models import Item, at_or_after_boundary, next_boundary, rng_for
from simulators.solar import daylight, local_hour
from simulators.world import Conditions

INTERVAL_S = 60
CAPACITY_BPS = 5_000_000.0


def usage(hour: float) -> float:
    """Share of the village's peak use at a local hour (0..1)."""
    evening = math.exp(-(((hour - 20.5) / 2.2) ** 2))
    midday = 0.45 * math.exp(-(((hour - 12.5) / 2.0) ** 2))
    return 0.08 + 0.92 * max(evening, midday)


class NetworkNodeModel:
    def __init__(self, device: SimDevice, seed: int) -> None:
        self.device = device
        self.seed = seed
        rng = rng_for(seed, device.id, "init")
        self.vsat = rng.random() < 0.15
        self.max_clients = rng.randint(20, 60)
        self.rsrp = rng.uniform(-98, -82)
        self.rsrq = rng.uniform(-12, -7)
        self.sinr = rng.uniform(5, 16)
        self.boot: datetime | None = None
        self.boot_age = timedelta(days=rng.uniform(1, 20))

    def first_due(self, start: datetime) -> datetime:
        self.boot = start - self.boot_age
        return at_or_after_boundary(start, INTERVAL_S)

    def step(self, t: datetime, world: Conditions) -> tuple[list[Item], datetime]:
        cut = world.node_outage(self.device.id, t)
        if cut is not None and cut.cause == "power_cut":
            self.boot = cut.window.end + timedelta(seconds=40)  # boots when power returns
            return [], at_or_after_boundary(cut.window.end + timedelta(seconds=90), INTERVAL_S)
        rng = rng_for(self.seed, self.device.id, t.timestamp())
        load = usage(local_hour(t)) * rng.uniform(0.85, 1.15)
        clients = max(0, round(self.max_clients * load + rng.gauss(0, 1.5)))
        rx = min(CAPACITY_BPS * 0.98, clients * rng.uniform(45_000, 95_000) + 30_000)
        util = rx / CAPACITY_BPS
        base_latency = 610.0 if self.vsat else 38.0
        latency = base_latency + 140 * util**3 + rng.expovariate(1 / 4)
        loss = 0.05 + 6 * util**4 + abs(rng.gauss(0, 0.08))
        grid = world.grid_outage(self.device, t)
        lat, lon = self.device.row.latitude or -3.7, self.device.row.longitude or 103.8
        if grid is not None:
            hours = (t - grid.window.start).total_seconds() / 3600
            source, volts = "battery", 12.7 - 0.22 * hours + rng.gauss(0, 0.02)
        else:
            source, volts = "PLN", 13.2 + rng.gauss(0, 0.05)
        boot = self.boot or t
        item: Item = {
            "ts": t,
            "uptime": max(0, int((t - boot).total_seconds())),
            "latency": round(latency, 1),
            "packet_loss": round(min(100.0, loss), 2),
            "rx_bps": round(rx),
            "tx_bps": round(rx * rng.uniform(0.25, 0.4)),
            "clients": clients,
            "board_voltage": round(max(10.0, volts), 2),
            "temperature": round(29 + 13 * daylight(t, lat, lon) + rng.gauss(0, 0.6), 1),
            "power_source": source,
        }
        if not self.vsat:
            item["rsrp"] = round(self.rsrp + rng.gauss(0, 1.5), 1)
            item["rsrq"] = round(self.rsrq + rng.gauss(0, 0.8), 1)
            item["sinr"] = round(self.sinr + rng.gauss(0, 1.5), 1)
        return [item], next_boundary(t, INTERVAL_S)
