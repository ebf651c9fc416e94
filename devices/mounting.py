"""Kind-specific installation details, declared once per kind.

Validation, CSV columns, the API schema and the technician's form all derive from
:data:`MOUNTING`. A kind without an entry simply has no mounting details.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MountingField:
    name: str
    label: str
    numeric: bool = False
    choices: tuple[str, ...] = ()
    valid: tuple[float, float] | None = None


MOUNTING: dict[str, tuple[MountingField, ...]] = {
    "streetlight": (
        MountingField("pole_number", "Pole number"),
        MountingField("feeder", "Feeder"),
        MountingField("cabinet", "Panel / cabinet"),
    ),
    "flood_gauge": (
        MountingField("station", "Station name"),
        MountingField("river", "River"),
        MountingField("gauge_zero_m", "Gauge zero (m above sea level)", True, (), (-100, 5000)),
    ),
    "network_node": (
        MountingField(
            "uplink", "Uplink (backhaul)", choices=("4G", "GSM", "VSAT", "LoRa", "fiber", "radio")
        ),
    ),
}

THRESHOLD_KINDS = frozenset({"flood_gauge"})
"""Kinds that carry their own WASPADA / SIAGA / AWAS thresholds (cm above gauge zero)."""

THRESHOLDS = ("waspada_cm", "siaga_cm", "awas_cm")

UPLINK_KIND = "network_node"
"""The kind a device may name as the node it reports through."""


def all_mounting_fields() -> list[MountingField]:
    seen: dict[str, MountingField] = {}
    for fields in MOUNTING.values():
        for f in fields:
            seen.setdefault(f.name, f)
    return list(seen.values())
