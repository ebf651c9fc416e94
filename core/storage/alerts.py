"""Alerts, their lifecycle moves and their history.

Every move goes through :func:`alerts.lifecycle.apply` and writes the new state and an
``alert_events`` row in the caller's transaction (writes take a connection). At most one
alert per (rule, subject) stands (is not resolved), enforced by a unique partial index, so a
condition that persists updates its alert instead of opening another: a flood is one alert
from its first WASPADA to its return to normal, with its peak and each level change.

Journalled: raise, escalate, deescalate, acknowledge, shelve, unshelve, clear, resolve.
Fact refreshes (``update``: a new value at the same level) only rewrite the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from alerts.lifecycle import apply
from alerts.vocabulary import AlertEvent, AlertState, FloodLevel, Priority

if TYPE_CHECKING:
    from core.storage.pool import Conn

Change = Literal["opened", "escalated", "deescalated", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule: str
    severity: str
    priority: str
    rank: int
    level: str | None
    device_id: str | None
    subject: str
    message: str
    message_en: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    shelved_until: datetime | None
    shelved_by: str | None
    shelve_reason: str | None
    peak_value: float | None
    peak_at: datetime | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            out[k] = v.isoformat() if isinstance(v, datetime) else v
        return out


@dataclass(frozen=True, slots=True)
class AlertHistoryRow:
    """One journalled move: what happened, when (and when it was observed), by whom."""

    id: int
    alert_id: int
    at: datetime
    observed_at: datetime | None
    event: str
    by: str
    from_status: str
    to_status: str
    level: str | None
    value: float | None
    priority: str | None
    note: str

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            out[k] = v.isoformat() if isinstance(v, datetime) else v
        return out


_FIELDS = [f for f in Alert.__slots__ if f != "details"]
_COLS = ", ".join(_FIELDS) + ", details::text AS details"
_ACOLS = ", ".join(f"a.{f}" for f in _FIELDS) + ", a.details::text AS details"


def _alert(r: asyncpg.Record) -> Alert:
    d = dict(r.items())
    d["details"] = json.loads(d["details"])
    return Alert(**d)


async def _journal(
    conn: Conn,
    alert: Alert,
    event: AlertEvent,
    *,
    before: AlertState | str,
    by: str,
    observed_at: datetime | None = None,
    value: float | None = None,
    note: str = "",
) -> None:
    await conn.execute(
        "INSERT INTO alert_events (alert_id, observed_at, event, by, from_status, to_status,"
        " level, value, priority, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        alert.id,
        observed_at,
        event.value,
        by,
        str(before),
        alert.status,
        alert.level,
        value,
        alert.priority,
        note,
    )


def _level_rank(level: str | None) -> int:
    return FloodLevel(level).rank if level else 0


def _direction(current: Alert, priority: Priority, level: str | None) -> int:
    """+1 if the condition got worse (priority or level up), -1 if better, 0 if the same."""
    old = (Priority(current.priority).order, _level_rank(current.level))
    new = (priority.order, _level_rank(level))
    return (new > old) - (new < old)


async def raise_alert(
    conn: Conn,
    *,
    rule: str,
    subject: str,
    device_id: str | None,
    priority: Priority,
    severity: str,
    rank: int,
    message: str,
    message_en: str,
    details: dict[str, Any],
    level: str | None = None,
    value: float | None = None,
    observed_at: datetime | None = None,
) -> tuple[Alert, Change]:
    """Open the (rule, subject) alert, or move the standing one.

    Worse (higher priority or level) escalates: an acknowledged or shelved alert becomes
    active again, someone must look. Better de-escalates and keeps the operator's state.
    ``value``/``observed_at`` track the episode's peak. Call inside a transaction.
    """
    payload = json.dumps(details, default=str)
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM alerts WHERE rule = $1 AND subject = $2"
        " AND status <> 'resolved' FOR UPDATE",
        rule,
        subject,
    )
    if row is None:
        new = await conn.fetchrow(
            "INSERT INTO alerts (rule, subject, device_id, severity, priority, rank, level,"
            " message, message_en, details, peak_value, peak_at, opened_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, now())"
            " ON CONFLICT (rule, subject) WHERE status <> 'resolved' DO NOTHING"
            f" RETURNING {_COLS}",
            rule,
            subject,
            device_id,
            severity,
            priority.value,
            rank,
            level,
            message,
            message_en,
            payload,
            value,
            observed_at if value is not None else None,
        )
        if new is None:  # a concurrent evaluator opened it first: move that one
            return await raise_alert(
                conn,
                rule=rule,
                subject=subject,
                device_id=device_id,
                priority=priority,
                severity=severity,
                rank=rank,
                message=message,
                message_en=message_en,
                details=details,
                level=level,
                value=value,
                observed_at=observed_at,
            )
        alert = _alert(new)
        apply(AlertState.NORMAL, AlertEvent.RAISE)
        await _journal(
            conn,
            alert,
            AlertEvent.RAISE,
            before=AlertState.NORMAL,
            by="system",
            observed_at=observed_at,
            value=value,
        )
        return alert, "opened"
    current = _alert(row)
    direction = _direction(current, priority, level)
    event = {1: AlertEvent.ESCALATE, -1: AlertEvent.DEESCALATE, 0: AlertEvent.UPDATE}[direction]
    peak = current.peak_value is None or (value is not None and value > current.peak_value)
    if (
        event is AlertEvent.UPDATE
        and not (peak and value is not None)
        and (current.message, current.rank, current.details) == (message, rank, details)
    ):
        return current, "unchanged"
    move = apply(current.status, event)
    updated = await conn.fetchrow(
        "UPDATE alerts SET severity = $2, priority = $3, rank = $4, level = $5, message = $6,"
        " message_en = $7, details = $8::jsonb, status = $9, updated_at = now(),"
        " acknowledged_at = CASE WHEN $10 THEN NULL ELSE acknowledged_at END,"
        " acknowledged_by = CASE WHEN $10 THEN NULL ELSE acknowledged_by END,"
        " shelved_until = CASE WHEN $10 THEN NULL ELSE shelved_until END,"
        " peak_value = CASE WHEN $11 THEN $12 ELSE peak_value END,"
        " peak_at = CASE WHEN $11 THEN $13 ELSE peak_at END"
        f" WHERE id = $1 RETURNING {_COLS}",
        current.id,
        severity,
        priority.value,
        rank,
        level,
        message,
        message_en,
        payload,
        move.after.value,
        event is AlertEvent.ESCALATE,
        peak and value is not None,
        value,
        observed_at,
    )
    assert updated is not None
    alert = _alert(updated)
    if event is AlertEvent.UPDATE:
        return alert, "updated"
    note = ""
    if event is AlertEvent.ESCALATE and current.acknowledged_by:
        note = f"previously acknowledged by {current.acknowledged_by}"
    await _journal(
        conn,
        alert,
        event,
        before=current.status,
        by="system",
        observed_at=observed_at,
        value=value,
        note=note,
    )
    return alert, "escalated" if event is AlertEvent.ESCALATE else "deescalated"


async def clear_active(
    conn: Conn,
    *,
    rule: str,
    subject: str,
    note: str,
    observed_at: datetime | None = None,
    value: float | None = None,
) -> Alert | None:
    """Resolve the standing (rule, subject) alert because its condition cleared, if any."""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM alerts WHERE rule = $1 AND subject = $2"
        " AND status <> 'resolved' FOR UPDATE",
        rule,
        subject,
    )
    if row is None:
        return None
    current = _alert(row)
    move = apply(current.status, AlertEvent.CLEAR)
    updated = await conn.fetchrow(
        "UPDATE alerts SET status = $2, resolved_at = now(), resolved_by = 'system',"
        " level = CASE WHEN level IS NULL THEN NULL ELSE 'NORMAL' END,"
        " details = details || jsonb_build_object('resolution', $3::text), updated_at = now()"
        f" WHERE id = $1 RETURNING {_COLS}",
        current.id,
        move.after.value,
        note,
    )
    assert updated is not None
    alert = _alert(updated)
    await _journal(
        conn,
        alert,
        AlertEvent.CLEAR,
        before=current.status,
        by="system",
        observed_at=observed_at,
        value=value,
        note=note,
    )
    return alert


async def _operator_move(
    conn: Conn,
    alert_id: int,
    event: AlertEvent,
    who: str,
    sets: str,
    args: list[Any],
    note: str = "",
) -> Alert | None:
    row = await conn.fetchrow(f"SELECT {_COLS} FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
    if row is None:
        return None
    current = _alert(row)
    move = apply(current.status, event)  # raises TransitionError before anything is written
    updated = await conn.fetchrow(
        f"UPDATE alerts SET status = $2, updated_at = now(), {sets}"
        f" WHERE id = $1 RETURNING {_COLS}",
        alert_id,
        move.after.value,
        *args,
    )
    assert updated is not None
    alert = _alert(updated)
    await _journal(conn, alert, event, before=current.status, by=who, note=note)
    return alert


async def acknowledge(conn: Conn, alert_id: int, who: str) -> Alert | None:
    """Someone is on it. None if there is no such alert; TransitionError if not allowed."""
    return await _operator_move(
        conn,
        alert_id,
        AlertEvent.ACKNOWLEDGE,
        who,
        "acknowledged_at = now(), acknowledged_by = $3",
        [who],
    )


async def resolve(conn: Conn, alert_id: int, who: str) -> Alert | None:
    """An operator closes the alert. None if there is no such alert; TransitionError if
    it is already resolved."""
    return await _operator_move(
        conn, alert_id, AlertEvent.RESOLVE, who, "resolved_at = now(), resolved_by = $3", [who]
    )


async def shelve(
    conn: Conn, alert_id: int, *, who: str, until: datetime, reason: str
) -> Alert | None:
    """Hide the alert until ``until`` for a stated reason (journalled); it returns then."""
    return await _operator_move(
        conn,
        alert_id,
        AlertEvent.SHELVE,
        who,
        "shelved_until = $3, shelved_by = $4, shelve_reason = $5",
        [until, who, reason],
        note=reason,
    )


async def unshelve(conn: Conn, alert_id: int, who: str) -> Alert | None:
    """Bring a shelved alert back before its time (it becomes ``returned``)."""
    return await _operator_move(
        conn, alert_id, AlertEvent.UNSHELVE, who, "shelved_until = NULL", []
    )


async def unshelve_due(conn: Conn, now: datetime) -> list[Alert]:
    """Every shelved alert whose time is up, moved to ``returned`` (journalled)."""
    ids = await conn.fetch(
        "SELECT id FROM alerts WHERE status = $1 AND shelved_until <= $2 ORDER BY id",
        AlertState.SHELVED.value,
        now,
    )
    back: list[Alert] = []
    for r in ids:
        a = await _operator_move(
            conn, r["id"], AlertEvent.UNSHELVE, "system", "shelved_until = NULL", [], "time up"
        )
        if a is not None:
            back.append(a)
    return back


async def active_alerts(pool: asyncpg.Pool, rule: str | None = None) -> list[Alert]:
    rows = await pool.fetch(
        f"SELECT {_COLS} FROM alerts WHERE status <> 'resolved'"
        " AND ($1::text IS NULL OR rule = $1) ORDER BY id",
        rule,
    )
    return [_alert(r) for r in rows]


async def get_alert(pool: asyncpg.Pool | Conn, alert_id: int) -> Alert | None:
    row = await pool.fetchrow(f"SELECT {_COLS} FROM alerts WHERE id = $1", alert_id)
    return None if row is None else _alert(row)


async def alert_history(pool: asyncpg.Pool, alert_id: int) -> list[AlertHistoryRow]:
    """The alert's journal, oldest first."""
    rows = await pool.fetch(
        "SELECT id, alert_id, at, observed_at, event, by, from_status, to_status, level, value,"
        " priority, note FROM alert_events WHERE alert_id = $1 ORDER BY id",
        alert_id,
    )
    return [AlertHistoryRow(**dict(r.items())) for r in rows]


async def list_alerts(
    pool: asyncpg.Pool,
    *,
    status: str | None = None,
    kind: str | None = None,
    district: str | None = None,
    device_id: str | None = None,
    rule: str | None = None,
    priority: str | None = None,
    limit: int = 500,
) -> list[Alert]:
    """Standing alerts first, highest priority (rank) first, then newest; then history."""
    rows = await pool.fetch(
        f"SELECT {_ACOLS} FROM alerts a"
        " LEFT JOIN devices d ON d.id = a.device_id"
        " WHERE ($1::text IS NULL OR a.status = $1)"
        " AND ($2::text IS NULL OR d.kind = $2)"
        " AND ($3::text IS NULL OR d.district = $3)"
        " AND ($4::text IS NULL OR a.device_id = $4)"
        " AND ($5::text IS NULL OR a.rule = $5)"
        " AND ($7::text IS NULL OR a.priority = $7)"
        " ORDER BY (a.status = 'resolved'), (a.status = 'shelved'), a.rank DESC,"
        " a.opened_at DESC, a.id DESC LIMIT $6",
        status,
        kind,
        district,
        device_id,
        rule,
        limit,
        priority,
    )
    return [_alert(r) for r in rows]


async def priority_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Standing, unshelved alerts per priority (every priority present, zeros included)."""
    rows = await pool.fetch(
        "SELECT priority, count(*) AS n FROM alerts"
        " WHERE status <> 'resolved' AND status <> 'shelved' GROUP BY priority"
    )
    found = {r["priority"]: r["n"] for r in rows}
    return {p.value: int(found.get(p.value, 0)) for p in Priority}


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
