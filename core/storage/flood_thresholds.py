"""Per-station flood warning thresholds (WASPADA < SIAGA < AWAS, cm above gauge zero).

They are the registry's ``devices.waspada_cm / siaga_cm / awas_cm`` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class FloodBands:
    device_id: str
    waspada: float
    siaga: float
    awas: float


async def set_flood_bands(pool: asyncpg.Pool, bands: Sequence[FloodBands]) -> None:
    """Set (or replace) the thresholds of registered gauges."""
    await pool.executemany(
        "UPDATE devices SET waspada_cm = $2, siaga_cm = $3, awas_cm = $4, updated_at = now() "
        "WHERE id = $1",
        [(b.device_id, b.waspada, b.siaga, b.awas) for b in bands],
    )


async def all_flood_bands(pool: asyncpg.Pool) -> list[FloodBands]:
    rows = await pool.fetch(
        "SELECT id AS device_id, waspada_cm AS waspada, siaga_cm AS siaga, awas_cm AS awas "
        "FROM devices WHERE waspada_cm IS NOT NULL AND siaga_cm IS NOT NULL "
        "AND awas_cm IS NOT NULL AND status <> 'decommissioned' ORDER BY id"
    )
    return [FloodBands(**dict(r.items())) for r in rows]
