"""Dimming schedules, their assignments, and what each light was last asked for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class ScheduledLight:
    device_id: str
    schedule: str
    steps: list[dict[str, Any]]
    scope: str
    """Which assignment applies: device, feeder or district (the most specific wins)."""


@dataclass(frozen=True, slots=True)
class SentLevel:
    schedule: str
    level: float | None
    since: datetime


@dataclass(frozen=True, slots=True)
class Assignment:
    scope: str
    value: str
    schedule: str
    assigned_by: str
    assigned_at: datetime


async def upsert_schedule(pool: asyncpg.Pool, name: str, steps: list[dict[str, Any]]) -> None:
    await pool.execute(
        "INSERT INTO dimming_schedules (name, steps) VALUES ($1, $2::jsonb)"
        " ON CONFLICT (name) DO UPDATE SET steps = EXCLUDED.steps, updated_at = now()",
        name,
        json.dumps(steps),
    )


async def schedules(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    rows = await pool.fetch("SELECT name, steps::text AS steps FROM dimming_schedules")
    return {r["name"]: json.loads(r["steps"]) for r in rows}


async def assign(pool: asyncpg.Pool, scope: str, value: str, schedule: str, by: str) -> None:
    await pool.execute(
        "INSERT INTO schedule_assignments (scope, value, schedule, assigned_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (scope, lower(value)) DO UPDATE"
        " SET schedule = EXCLUDED.schedule, assigned_by = EXCLUDED.assigned_by,"
        " assigned_at = now()",
        scope,
        value,
        schedule,
        by,
    )


async def unassign(pool: asyncpg.Pool, scope: str, value: str) -> bool:
    status = await pool.execute(
        "DELETE FROM schedule_assignments WHERE scope = $1 AND lower(value) = lower($2)",
        scope,
        value,
    )
    return not status.endswith(" 0")


async def assignments(pool: asyncpg.Pool) -> list[Assignment]:
    rows = await pool.fetch(
        "SELECT scope, value, schedule, assigned_by, assigned_at FROM schedule_assignments"
        " ORDER BY scope, value"
    )
    return [Assignment(**dict(r.items())) for r in rows]


async def scheduled_lights(pool: asyncpg.Pool) -> list[ScheduledLight]:
    """Every street light in service under a schedule, with the assignment that applies."""
    rows = await pool.fetch(
        """
        SELECT d.id, a.schedule, s.steps::text AS steps, a.scope
        FROM devices d
        CROSS JOIN LATERAL (
            SELECT sa.schedule, sa.scope FROM schedule_assignments sa
            WHERE (sa.scope = 'device' AND lower(sa.value) = lower(d.id))
               OR (sa.scope = 'feeder' AND lower(sa.value) = lower(d.mounting->>'feeder'))
               OR (sa.scope = 'district' AND lower(sa.value) = lower(d.district))
            ORDER BY CASE sa.scope WHEN 'device' THEN 0 WHEN 'feeder' THEN 1 ELSE 2 END
            LIMIT 1
        ) a
        JOIN dimming_schedules s ON s.name = a.schedule
        WHERE d.kind = 'streetlight' AND d.status NOT IN ('decommissioned', 'planned')
        ORDER BY d.id
        """
    )
    return [
        ScheduledLight(r["id"], r["schedule"], json.loads(r["steps"]), r["scope"]) for r in rows
    ]


async def sent_levels(pool: asyncpg.Pool, device_ids: Sequence[str]) -> dict[str, SentLevel]:
    rows = await pool.fetch(
        "SELECT device_id, schedule, level, since FROM schedule_state"
        " WHERE device_id = ANY($1::text[])",
        list(device_ids),
    )
    return {r["device_id"]: SentLevel(r["schedule"], r["level"], r["since"]) for r in rows}


async def record_levels(
    pool: asyncpg.Pool, levels: Sequence[tuple[str, str, float | None]], since: datetime
) -> None:
    await pool.executemany(
        "INSERT INTO schedule_state (device_id, schedule, level, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (device_id) DO UPDATE SET schedule = EXCLUDED.schedule,"
        " level = EXCLUDED.level, since = EXCLUDED.since",
        [(d, s, lv, since) for d, s, lv in levels],
    )
