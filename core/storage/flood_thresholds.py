"""Per-station flood warning thresholds (WASPADA < SIAGA < AWAS, cm above gauge zero)."""

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
    """Set (or replace) the thresholds of each gauge."""
    await pool.executemany(
        "INSERT INTO flood_thresholds (device_id, waspada, siaga, awas) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (device_id) DO UPDATE SET waspada = EXCLUDED.waspada, "
        "siaga = EXCLUDED.siaga, awas = EXCLUDED.awas, updated_at = now()",
        [(b.device_id, b.waspada, b.siaga, b.awas) for b in bands],
    )


async def all_flood_bands(pool: asyncpg.Pool) -> list[FloodBands]:
    rows = await pool.fetch(
        "SELECT device_id, waspada, siaga, awas FROM flood_thresholds ORDER BY device_id"
    )
    return [FloodBands(**dict(r.items())) for r in rows]
