"""A small fleet of simulated devices placed in Muara Enim."""

from __future__ import annotations

import random

from core.kinds import KindRegistry
from core.storage.devices import DeviceRow

# A few district centres (kecamatan, approximate) from the regency's geography.
DISTRICTS: tuple[tuple[str, float, float], ...] = (
    ("Muara Enim", -3.6641, 103.8015),
    ("Tanjung Agung", -3.8974, 103.8125),
    ("Lawang Kidul", -3.7735, 103.8349),
    ("Gunung Megang", -3.5284, 103.8823),
    ("Sungai Rotan", -3.1567, 104.2876),
)

_PREFIX = {"streetlight": "PJU", "flood_gauge": "AWLR", "network_node": "NODE"}


def build_fleet(kinds: KindRegistry, per_kind: int, seed: int) -> list[DeviceRow]:
    if per_kind < 1:
        raise ValueError(f"--per-kind must be at least 1, got {per_kind}")
    rng = random.Random(seed)
    fleet = []
    for kind in kinds.values():
        prefix = _PREFIX.get(kind.name, kind.name.upper())
        for n in range(1, per_kind + 1):
            district, lat, lon = DISTRICTS[(n - 1) % len(DISTRICTS)]
            fleet.append(
                DeviceRow(
                    id=f"SIM-{prefix}-{n:04d}",
                    kind=kind.name,
                    name=f"Simulated {kind.label} {n}",
                    status="active",
                    district=district,
                    latitude=round(lat + rng.uniform(-0.01, 0.01), 6),
                    longitude=round(lon + rng.uniform(-0.01, 0.01), 6),
                )
            )
    return fleet
