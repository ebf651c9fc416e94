"""What the alert rules need from the device registry: each gauge's flood thresholds, each
lamp's feeder (or cabinet) and each device's uplink node.

Decommissioned devices are left out: they raise nothing and cover nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg


@dataclass(frozen=True, slots=True)
class RegistryBands:
    waspada: float
    siaga: float
    awas: float


@dataclass(frozen=True, slots=True)
class AlertMetadata:
    thresholds: dict[str, RegistryBands] = field(default_factory=dict)
    feeders: dict[str, str] = field(default_factory=dict)
    uplinks: dict[str, str] = field(default_factory=dict)


async def load_alert_metadata(pool: asyncpg.Pool) -> AlertMetadata:
    rows = await pool.fetch(
        "SELECT id, waspada_cm, siaga_cm, awas_cm, uplink_id,"
        " coalesce(nullif(mounting->>'feeder', ''), nullif(mounting->>'cabinet', '')) AS feeder"
        " FROM devices WHERE status <> 'decommissioned' AND (uplink_id IS NOT NULL"
        " OR awas_cm IS NOT NULL OR mounting ? 'feeder' OR mounting ? 'cabinet')"
    )
    out = AlertMetadata()
    for r in rows:
        d = r["id"]
        if r["waspada_cm"] is not None and r["siaga_cm"] is not None and r["awas_cm"] is not None:
            out.thresholds[d] = RegistryBands(r["waspada_cm"], r["siaga_cm"], r["awas_cm"])
        if r["feeder"] is not None:
            out.feeders[d] = r["feeder"]
        if r["uplink_id"] is not None:
            out.uplinks[d] = r["uplink_id"]
    return out
