"""Street lights' energy per night, from the hourly rollups of their power readings.

Both storage paths keep ``rollup_streetlight_1h`` (a table refreshed from ``rollup_dirty``
on plain PostgreSQL, a continuous aggregate on TimescaleDB) with the same columns, so one
query serves both. A night runs from 12:00 to 12:00 WIB and is named by its first date.
Per hour, energy is the mean power times one hour; "at full brightness" scales each hour's
mean power by 100 / its mean dim level, which is what the same lit hours would have cost
undimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

GROUPS = {
    "device": "r.device_id",
    "feeder": "coalesce(d.mounting->>'feeder', '-')",
    "district": "coalesce(d.district, '-')",
}


@dataclass(frozen=True, slots=True)
class NightEnergy:
    key: str
    night: date
    kwh: float
    kwh_full: float
    lights: int

    @property
    def saving_pct(self) -> float | None:
        return None if self.kwh_full <= 0 else round(100 * (1 - self.kwh / self.kwh_full), 1)


def night_energy_sql(group: str, where: str) -> str:
    """The per-night query for ``group``, with ``where`` filtering the rollup rows ``r``
    (the API binds a time range; a Grafana panel passes ``$__timeFilter(r.bucket)``)."""
    key = GROUPS[group]
    return f"""
        WITH hours AS (
            SELECT r.device_id, {key} AS key,
                   ((r.bucket AT TIME ZONE 'Asia/Jakarta') - interval '12 hours')::date AS night,
                   r.active_power_sum / r.active_power_n AS watts,
                   CASE WHEN r.dim_pct_n > 0 AND r.dim_pct_sum > 0
                        THEN r.dim_pct_sum / r.dim_pct_n END AS dim
            FROM rollup_streetlight_1h r JOIN devices d ON d.id = r.device_id
            WHERE {where} AND r.active_power_n > 0
        )
        SELECT key, night, sum(watts) / 1000 AS kwh,
               sum(CASE WHEN dim IS NULL THEN watts ELSE watts * 100 / dim END) / 1000
                   AS kwh_full,
               count(DISTINCT device_id) AS lights
        FROM hours GROUP BY key, night"""


async def night_energy(
    pool: asyncpg.Pool, *, start: datetime, end: datetime, group: str, limit: int
) -> list[NightEnergy]:
    """kWh per ``group`` (device, feeder or district) per night, for hours in [start, end)."""
    sql = night_energy_sql(group, "r.bucket >= $1 AND r.bucket < $2")
    rows = await pool.fetch(f"{sql} ORDER BY night, key LIMIT $3", start, end, limit)
    return [
        NightEnergy(
            r["key"], r["night"], round(r["kwh"], 4), round(r["kwh_full"], 4), int(r["lights"])
        )
        for r in rows
    ]
