"""Work order storage: orders, their events (who did what, when) and the rules that open
orders from alerts by themselves.

Writes take a connection (the caller holds the transaction); reads take the pool. An order
refers to its alert by id only; the one place that reads the alert's state is
:func:`orders_to_verify` and :func:`alerts_without_order` (``ALERT_RESOLVED`` below), so a
change to the alert lifecycle touches these two queries and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn

ALERT_RESOLVED = "a.status = 'resolved'"
"""SQL: the alert ``a`` has returned to normal (the device reports healthy again)."""


@dataclass(frozen=True, slots=True)
class WorkOrder:
    id: int
    alert_id: int | None
    alert_rule: str | None
    device_id: str | None
    title: str
    priority: str
    status: str
    latitude: float | None
    longitude: float | None
    place: str | None
    holder: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    verified_at: datetime | None
    returned_reason: str | None


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    id: int
    order_id: int
    at: datetime
    actor: str
    event: str
    note: str | None


@dataclass(frozen=True, slots=True)
class NewOrder:
    alert_id: int | None
    device_id: str | None
    title: str
    priority: str
    latitude: float | None
    longitude: float | None
    place: str | None


@dataclass(frozen=True, slots=True)
class AlertForOrder:
    """An active alert whose rule opens work orders, with what the order needs."""

    alert_id: int
    rule: str
    priority: str
    device_id: str | None
    subject: str
    message: str
    latitude: float | None
    longitude: float | None
    place: str | None


_SELECT = (
    "SELECT w.id, w.alert_id, a.rule AS alert_rule, w.device_id, w.title, w.priority,"
    " w.status, w.latitude, w.longitude, w.place, w.holder, w.created_by, w.created_at,"
    " w.updated_at, w.done_at, w.verified_at, w.returned_reason"
    " FROM work_orders w LEFT JOIN alerts a ON a.id = w.alert_id"
)
_PRIORITY_ORDER = (
    "CASE w.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END"
)


def _order(r: asyncpg.Record) -> WorkOrder:
    return WorkOrder(**dict(r.items()))


async def insert_order(conn: Conn, o: NewOrder, *, actor: str) -> int | None:
    """The new order's id, or None when the alert already has a live order."""
    order_id = await conn.fetchval(
        "INSERT INTO work_orders (alert_id, device_id, title, priority, latitude, longitude,"
        " place, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (alert_id) WHERE status NOT IN ('verified', 'cancelled') DO NOTHING"
        " RETURNING id",
        o.alert_id,
        o.device_id,
        o.title,
        o.priority,
        o.latitude,
        o.longitude,
        o.place,
        actor,
    )
    return None if order_id is None else int(order_id)


async def get_order(
    conn: Conn | asyncpg.Pool, order_id: int, *, lock: bool = False
) -> WorkOrder | None:
    suffix = " FOR UPDATE OF w" if lock else ""
    r = await conn.fetchrow(f"{_SELECT} WHERE w.id = $1{suffix}", order_id)
    return None if r is None else _order(r)


async def list_orders(
    pool: asyncpg.Pool,
    *,
    statuses: list[str] | None = None,
    holder: str | None = None,
    limit: int = 500,
) -> list[WorkOrder]:
    """Orders, most urgent and oldest first."""
    rows = await pool.fetch(
        f"{_SELECT} WHERE ($1::text[] IS NULL OR w.status = ANY($1::text[]))"
        " AND ($2::text IS NULL OR w.holder = $2)"
        f" ORDER BY {_PRIORITY_ORDER}, w.created_at LIMIT $3",
        statuses,
        holder,
        limit,
    )
    return [_order(r) for r in rows]


async def set_status(
    conn: Conn,
    order_id: int,
    *,
    status: str,
    holder: str | None,
    returned_reason: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE work_orders SET status = $2, holder = $3, updated_at = now(),"
        " done_at = CASE WHEN $2 = 'done' THEN now() WHEN $2 = 'open' THEN NULL ELSE done_at END,"
        " verified_at = CASE WHEN $2 = 'verified' THEN now() ELSE verified_at END,"
        " returned_reason = coalesce($4, returned_reason) WHERE id = $1",
        order_id,
        status,
        holder,
        returned_reason,
    )


async def add_event(
    conn: Conn, order_id: int, *, actor: str, event: str, note: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO work_order_events (order_id, actor, event, note) VALUES ($1, $2, $3, $4)",
        order_id,
        actor,
        event,
        note,
    )


async def list_events(pool: asyncpg.Pool, order_id: int) -> list[OrderEventRow]:
    rows = await pool.fetch(
        "SELECT id, order_id, at, actor, event, note FROM work_order_events"
        " WHERE order_id = $1 ORDER BY id",
        order_id,
    )
    return [OrderEventRow(**dict(r.items())) for r in rows]


async def alerts_without_order(pool: asyncpg.Pool, *, limit: int = 500) -> list[AlertForOrder]:
    """Active alerts whose rule opens orders (``work_order_rules``) and that have none live."""
    rows = await pool.fetch(
        "SELECT a.id AS alert_id, a.rule, r.priority, a.device_id, a.subject, a.message,"
        " d.latitude, d.longitude,"
        " nullif(concat_ws(', ', d.village, d.district), '') AS place"
        " FROM alerts a JOIN work_order_rules r ON r.rule = a.rule AND r.enabled"
        " LEFT JOIN devices d ON d.id = a.device_id"
        f" WHERE NOT ({ALERT_RESOLVED}) AND NOT EXISTS (SELECT 1 FROM work_orders w"
        " WHERE w.alert_id = a.id AND w.status NOT IN ('verified', 'cancelled'))"
        " ORDER BY a.id LIMIT $1",
        limit,
    )
    return [AlertForOrder(**dict(r.items())) for r in rows]


async def orders_to_verify(pool: asyncpg.Pool) -> list[tuple[int, bool, datetime]]:
    """Done orders with an alert: (order id, alert resolved?, when the order was done)."""
    rows = await pool.fetch(
        f"SELECT w.id, ({ALERT_RESOLVED}) AS resolved, w.done_at FROM work_orders w"
        " JOIN alerts a ON a.id = w.alert_id WHERE w.status = 'done' ORDER BY w.id"
    )
    return [(int(r["id"]), bool(r["resolved"]), r["done_at"]) for r in rows]


async def alert_for_order(conn: Conn | asyncpg.Pool, alert_id: int) -> AlertForOrder | None:
    """An alert (any rule, any state) as an operator turns it into an order."""
    r = await conn.fetchrow(
        "SELECT a.id AS alert_id, a.rule, coalesce(r.priority, 'normal') AS priority,"
        " a.device_id, a.subject, a.message, d.latitude, d.longitude,"
        " nullif(concat_ws(', ', d.village, d.district), '') AS place"
        " FROM alerts a LEFT JOIN work_order_rules r ON r.rule = a.rule"
        " LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = $1",
        alert_id,
    )
    return None if r is None else AlertForOrder(**dict(r.items()))


async def list_rules(pool: asyncpg.Pool) -> list[tuple[str, str, bool]]:
    rows = await pool.fetch("SELECT rule, priority, enabled FROM work_order_rules ORDER BY rule")
    return [(r["rule"], r["priority"], r["enabled"]) for r in rows]


async def set_rule(pool: asyncpg.Pool, *, rule: str, priority: str, enabled: bool) -> None:
    await pool.execute(
        "INSERT INTO work_order_rules (rule, priority, enabled) VALUES ($1, $2, $3)"
        " ON CONFLICT (rule) DO UPDATE SET priority = $2, enabled = $3",
        rule,
        priority,
        enabled,
    )
