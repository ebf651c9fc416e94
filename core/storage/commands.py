"""Commands storage: one row per device per command, moved forward by the dispatcher.

Writes that belong together (commands and their journal entries) take a connection so the
caller groups them in one transaction; reads take a pool. Rows leave as dataclasses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn

OPEN_STATUSES = ("queued", "sent", "delivered")
_REPLY_FROM = {
    "delivered": ["queued", "sent"],
    "done": ["queued", "sent", "delivered"],
    "failed": ["queued", "sent", "delivered"],
}


@dataclass(frozen=True, slots=True)
class NewCommand:
    id: str
    device_id: str
    kind: str
    command: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandRow:
    id: str
    request_id: str
    device_id: str
    kind: str
    command: str
    args: dict[str, Any]
    target: str
    actor: str
    status: str
    detail: str | None
    created_at: datetime
    deadline: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class CommandFilter:
    device_id: str | None = None
    request_id: str | None = None
    status: str | None = None
    command: str | None = None


_SELECT = (
    "SELECT id::text AS id, request_id::text AS request_id, device_id, kind, command,"
    " args::text AS args, target, actor, status, detail, created_at, deadline, sent_at,"
    " delivered_at, finished_at FROM commands"
)


def _row(r: asyncpg.Record) -> CommandRow:
    d = dict(r.items())
    d["args"] = json.loads(d["args"])
    return CommandRow(**d)


async def target_devices(
    conn: Conn | asyncpg.Pool, *, kinds: Sequence[str], by: str, value: str, limit: int
) -> list[tuple[str, str]]:
    """(id, kind) of the live devices of ``kinds`` that ``by``/``value`` names.

    ``by`` is device, feeder (a street light's mounting detail), district or kind.
    Decommissioned devices are never addressed. At most ``limit`` rows.
    """
    where = {
        "device": "d.id = $2",
        "feeder": "lower(d.mounting->>'feeder') = lower($2)",
        "district": "lower(d.district) = lower($2)",
        "kind": "d.kind = $2",
    }[by]
    rows = await conn.fetch(
        f"SELECT d.id, d.kind FROM devices d WHERE d.kind = ANY($1::text[]) AND {where}"
        " AND d.status <> 'decommissioned' ORDER BY d.id LIMIT $3",
        list(kinds),
        value,
        limit,
    )
    return [(r["id"], r["kind"]) for r in rows]


async def insert_commands(
    conn: Conn,
    commands: Sequence[NewCommand],
    *,
    request_id: str,
    target: str,
    actor: str,
    deadline: datetime,
) -> None:
    """The commands and one journal entry per device; the caller holds a transaction."""
    await conn.copy_records_to_table(
        "commands",
        columns=["id", "request_id", "device_id", "kind", "command", "args", "target", "actor",
                 "deadline"],
        records=[
            (c.id, request_id, c.device_id, c.kind, c.command, json.dumps(c.args), target, actor,
             deadline)
            for c in commands
        ],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "device_journal",
        columns=["device_id", "actor", "action", "changes", "note"],
        records=[
            (
                c.device_id,
                actor,
                "command",
                json.dumps({"command": [None, c.command], "args": [None, c.args]}),
                f"command {c.id} ({target}), deadline {deadline.isoformat()}",
            )
            for c in commands
        ],
    )


async def due_commands(
    pool: asyncpg.Pool, *, limit: int, lorawan: bool = False
) -> list[CommandRow]:
    """Queued commands whose deadline has not passed, oldest first.

    ``lorawan`` picks the devices that carry a DevEUI (the LoRaWAN bridge sends theirs as
    downlinks); otherwise the others (the MQTT dispatcher's).
    """
    has_eui = "" if lorawan else "NOT "
    rows = await pool.fetch(
        f"{_SELECT} WHERE status = 'queued' AND deadline > now() AND device_id IN"
        f" (SELECT id FROM devices WHERE {has_eui}(mounting ? 'dev_eui'))"
        " ORDER BY created_at LIMIT $1",
        limit,
    )
    return [_row(r) for r in rows]


async def fail_commands(pool: asyncpg.Pool, ids: Sequence[str], detail: str) -> None:
    """Commands that cannot be sent at all (e.g. no downlink codec): failed, with why."""
    await pool.execute(
        "UPDATE commands SET status = 'failed', finished_at = now(), detail = $2"
        " WHERE id = ANY($1::uuid[]) AND status = 'queued'",
        list(ids),
        detail,
    )


async def mark_sent(pool: asyncpg.Pool, ids: Sequence[str], at: datetime) -> None:
    await pool.execute(
        "UPDATE commands SET status = 'sent', sent_at = $2"
        " WHERE id = ANY($1::uuid[]) AND status = 'queued'",
        list(ids),
        at,
    )


async def apply_reply(
    pool: asyncpg.Pool,
    *,
    device_id: str,
    command_id: str,
    status: str,
    detail: str | None,
    at: datetime,
) -> str | None:
    """Move the command forward; its status afterwards, or None if it is not this device's.

    A reply never moves a command backwards or out of a final state, so a redelivered
    reply is harmless.
    """
    row = await pool.fetchrow(
        "UPDATE commands SET status = $3, detail = coalesce($4, detail),"
        " sent_at = coalesce(sent_at, $5), delivered_at = coalesce(delivered_at, $5),"
        " finished_at = CASE WHEN $3 IN ('done', 'failed') THEN $5 ELSE finished_at END"
        " WHERE id = $1::uuid AND device_id = $2 AND status = ANY($6::text[])"
        " RETURNING status",
        command_id,
        device_id,
        status,
        detail,
        at,
        _REPLY_FROM[status],
    )
    if row is not None:
        return str(row["status"])
    current = await pool.fetchval(
        "SELECT status FROM commands WHERE id = $1::uuid AND device_id = $2",
        command_id,
        device_id,
    )
    return None if current is None else str(current)


async def expire_overdue(pool: asyncpg.Pool) -> list[str]:
    """Unfinished commands past their deadline become expired; their ids."""
    rows = await pool.fetch(
        "UPDATE commands SET status = 'expired', finished_at = now()"
        " WHERE status = ANY($1::text[]) AND deadline <= now() RETURNING id::text",
        list(OPEN_STATUSES),
    )
    return [r["id"] for r in rows]


async def list_commands(
    pool: asyncpg.Pool, f: CommandFilter, *, limit: int, offset: int = 0
) -> list[CommandRow]:
    clauses, args = [], []
    for column, value, cast in (
        ("device_id", f.device_id, ""),
        ("request_id", f.request_id, "::uuid"),
        ("status", f.status, ""),
        ("command", f.command, ""),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}{cast}")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await pool.fetch(
        f"{_SELECT}{where} ORDER BY created_at DESC, device_id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [_row(r) for r in rows]


async def get_command(pool: asyncpg.Pool, command_id: str) -> CommandRow | None:
    r = await pool.fetchrow(f"{_SELECT} WHERE id = $1::uuid", command_id)
    return None if r is None else _row(r)


async def status_counts(pool: asyncpg.Pool, request_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM commands WHERE request_id = $1::uuid GROUP BY status",
        request_id,
    )
    return {r["status"]: int(r["n"]) for r in rows}
