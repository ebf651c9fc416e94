"""Alerts and their lifecycle: open -> acknowledged -> resolved, with who and when.

At most one alert per (rule, subject) is active (not resolved), enforced by a unique partial
index, so a condition that persists updates its alert instead of opening another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

Change = Literal["opened", "escalated", "updated", "unchanged"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule: str
    severity: str
    device_id: str | None
    subject: str
    message: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            out[k] = v.isoformat() if isinstance(v, datetime) else v
        return out


_COLS = (
    "id, rule, severity, device_id, subject, message, status, opened_at, acknowledged_at,"
    " acknowledged_by, resolved_at, resolved_by, details::text AS details"
)


def _alert(r: asyncpg.Record | dict[str, Any]) -> Alert:
    d = dict(r.items())
    d.pop("rank", None)
    d["details"] = json.loads(d["details"])
    return Alert(**d)


async def raise_alert(
    pool: asyncpg.Pool,
    *,
    rule: str,
    subject: str,
    device_id: str | None,
    severity: str,
    message: str,
    details: dict[str, Any],
    level: int = 0,
) -> tuple[Alert, Change]:
    """Open the (rule, subject) alert, or update the active one.

    ``level`` orders escalation within a rule: a higher level than the active alert's
    re-opens an acknowledged alert (someone must look again); a lower one only updates it.
    """
    payload = json.dumps({**details, "level_rank": level}, default=str)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLS}, (details->>'level_rank')::int AS rank FROM alerts"
            " WHERE rule = $1 AND subject = $2 AND status <> 'resolved' FOR UPDATE",
            rule,
            subject,
        )
        if row is None:
            new = await conn.fetchrow(
                "INSERT INTO alerts (rule, subject, device_id, severity, message, details)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
                " ON CONFLICT (rule, subject) WHERE status <> 'resolved' DO NOTHING"
                f" RETURNING {_COLS}",
                rule,
                subject,
                device_id,
                severity,
                message,
                payload,
            )
            if new is None:  # a concurrent evaluator opened it first
                return await raise_alert(
                    pool,
                    rule=rule,
                    subject=subject,
                    device_id=device_id,
                    severity=severity,
                    message=message,
                    details=details,
                    level=level,
                )
            return _alert(new), "opened"
        rank = row["rank"] or 0
        current = _alert(row)
        if level > rank:
            updated = await conn.fetchrow(
                "UPDATE alerts SET severity = $2, message = $3, details = $4::jsonb,"
                " status = 'open', acknowledged_at = NULL, acknowledged_by = NULL,"
                " updated_at = now() WHERE id = $1"
                f" RETURNING {_COLS}",
                current.id,
                severity,
                message,
                json.dumps(
                    {
                        **details,
                        "level_rank": level,
                        "escalated_from": current.severity,
                        "previously_acknowledged_by": current.acknowledged_by,
                    },
                    default=str,
                ),
            )
            assert updated is not None
            return _alert(updated), "escalated"
        if level == rank and current.message == message and current.severity == severity:
            return current, "unchanged"
        updated = await conn.fetchrow(
            "UPDATE alerts SET severity = $2, message = $3, details = details || $4::jsonb,"
            f" updated_at = now() WHERE id = $1 RETURNING {_COLS}",
            current.id,
            severity,
            message,
            payload,
        )
        assert updated is not None
        return _alert(updated), "updated"


async def resolve_active(
    pool: asyncpg.Pool, *, rule: str, subject: str, by: str, note: str
) -> Alert | None:
    """Resolve the active (rule, subject) alert, if any (the condition cleared)."""
    row = await pool.fetchrow(
        "UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $3,"
        " details = details || jsonb_build_object('resolution', $4::text), updated_at = now()"
        " WHERE rule = $1 AND subject = $2 AND status <> 'resolved'"
        f" RETURNING {_COLS}",
        rule,
        subject,
        by,
        note,
    )
    return None if row is None else _alert(row)


async def active_alerts(pool: asyncpg.Pool, rule: str | None = None) -> list[Alert]:
    rows = await pool.fetch(
        f"SELECT {_COLS} FROM alerts WHERE status <> 'resolved'"
        " AND ($1::text IS NULL OR rule = $1) ORDER BY id",
        rule,
    )
    return [_alert(r) for r in rows]


async def get_alert(pool: asyncpg.Pool, alert_id: int) -> Alert | None:
    row = await pool.fetchrow(f"SELECT {_COLS} FROM alerts WHERE id = $1", alert_id)
    return None if row is None else _alert(row)


async def list_alerts(
    pool: asyncpg.Pool,
    *,
    status: str | None = None,
    kind: str | None = None,
    district: str | None = None,
    device_id: str | None = None,
    rule: str | None = None,
    limit: int = 500,
) -> list[Alert]:
    cols = ", ".join(f"a.{c.strip()}" for c in _COLS.split(",") if "details" not in c)
    rows = await pool.fetch(
        f"SELECT {cols}, a.details::text AS details FROM alerts a"
        " LEFT JOIN devices d ON d.id = a.device_id"
        " WHERE ($1::text IS NULL OR a.status = $1)"
        " AND ($2::text IS NULL OR d.kind = $2)"
        " AND ($3::text IS NULL OR d.district = $3)"
        " AND ($4::text IS NULL OR a.device_id = $4)"
        " AND ($5::text IS NULL OR a.rule = $5)"
        " ORDER BY a.opened_at DESC, a.id DESC LIMIT $6",
        status,
        kind,
        district,
        device_id,
        rule,
        limit,
    )
    return [_alert(r) for r in rows]


async def acknowledge(pool: asyncpg.Pool, alert_id: int, who: str) -> Alert | str | None:
    """Acknowledge an open alert. Returns the alert, a reason it is not allowed, or None."""
    row = await pool.fetchrow(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(),"
        " acknowledged_by = $2, updated_at = now() WHERE id = $1 AND status = 'open'"
        f" RETURNING {_COLS}",
        alert_id,
        who,
    )
    if row is not None:
        return _alert(row)
    current = await get_alert(pool, alert_id)
    if current is None:
        return None
    who_did = current.acknowledged_by or current.resolved_by
    return (
        f"alert {alert_id} is already {current.status} by {who_did};"
        " only an open alert can be acknowledged"
    )


async def resolve(pool: asyncpg.Pool, alert_id: int, who: str) -> Alert | str | None:
    """Resolve an open or acknowledged alert. Returns the alert, a reason, or None."""
    row = await pool.fetchrow(
        "UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = $2,"
        " updated_at = now() WHERE id = $1 AND status <> 'resolved'"
        f" RETURNING {_COLS}",
        alert_id,
        who,
    )
    if row is not None:
        return _alert(row)
    current = await get_alert(pool, alert_id)
    if current is None:
        return None
    return f"alert {alert_id} was already resolved by {current.resolved_by} at " + (
        current.resolved_at.isoformat() if current.resolved_at else "?"
    )


async def get_levels(pool: asyncpg.Pool, device_ids: list[str]) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT device_id, level FROM flood_levels WHERE device_id = ANY($1::text[])", device_ids
    )
    return {r["device_id"]: r["level"] for r in rows}


async def set_level(pool: asyncpg.Pool, device_id: str, level: str) -> None:
    await pool.execute(
        "INSERT INTO flood_levels (device_id, level) VALUES ($1, $2) ON CONFLICT (device_id)"
        " DO UPDATE SET level = EXCLUDED.level, changed_at = now()"
        " WHERE flood_levels.level <> EXCLUDED.level",
        device_id,
        level,
    )
