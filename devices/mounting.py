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
    pattern: str | None = None
    """A text detail must match this regular expression (with a hint in ``label``)."""


DEV_EUI = MountingField("dev_eui", "LoRaWAN DevEUI (16 hex digits)", pattern=r"^[0-9A-Fa-f]{16}$")
"""Set on devices that report through a LoRaWAN network server (`citysense lorawan`)."""


MOUNTING: dict[str, tuple[MountingField, ...]] = {
    "streetlight": (
        MountingField("pole_number", "Pole number"),
        MountingField("feeder", "Feeder"),
        MountingField("cabinet", "Panel / cabinet"),
        DEV_EUI,
    ),
    "flood_gauge": (
        MountingField("station", "Station name"),
        MountingField("river", "River"),
        MountingField("gauge_zero_m", "Gauge zero (m above sea level)", True, (), (-100, 5000)),
        DEV_EUI,
    ),
    "network_node": (
        MountingField(
            "uplink", "Uplink (backhaul)", choices=("4G", "GSM", "VSAT", "LoRa", "fiber", "radio")
        ),
        DEV_EUI,
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
