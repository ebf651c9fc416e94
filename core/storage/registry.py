"""Registry storage: devices with their details, journal, credentials and device models.

Every write takes a connection so callers group it into one transaction (nothing is
half-written); reads take a pool. Rows leave as dataclasses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from core.storage.pool import Conn


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    kind: str
    name: str
    status: str
    district: str | None
    village: str | None
    latitude: float | None
    longitude: float | None
    model_id: str | None
    install_date: date | None
    uplink_id: str | None
    mounting: dict[str, Any]
    waspada_cm: float | None
    siaga_cm: float | None
    awas_cm: float | None
    batch: str | None
    created_at: datetime
    updated_at: datetime
    credentials_issued_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewDevice:
    """One device to insert, with its first credential hash and its batch (if imported)."""

    id: str
    kind: str
    name: str
    status: str
    district: str
    village: str | None
    latitude: float | None
    longitude: float | None
    model_id: str | None
    install_date: date | None
    uplink_id: str | None
    mounting: dict[str, Any]
    waspada_cm: float | None
    siaga_cm: float | None
    awas_cm: float | None
    password_hash: str


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    device_id: str
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]
    note: str | None


@dataclass(frozen=True, slots=True)
class DeviceModel:
    id: str
    kind: str
    manufacturer: str
    model: str


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    device_id: str
    kind: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class UnregisteredPublisher:
    device_id: str
    kind: str | None
    first_seen: datetime
    last_seen: datetime
    messages: int


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    kind: str | None = None
    district: str | None = None
    status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    """min_lon, min_lat, max_lon, max_lat"""
    q: str | None = None
    batch: str | None = None
    ids: Sequence[str] | None = None


_SELECT = (
    "SELECT d.id, d.kind, d.name, d.status, d.district, d.village, d.latitude, d.longitude,"
    " d.model_id, d.install_date, d.uplink_id, d.mounting::text AS mounting, d.waspada_cm,"
    " d.siaga_cm, d.awas_cm, d.batch, d.created_at, d.updated_at,"
    " c.created_at AS credentials_issued_at"
    " FROM devices d LEFT JOIN device_credentials c"
    " ON c.device_id = d.id AND c.revoked_at IS NULL"
)

UPDATABLE = frozenset(
    {
        "name",
        "district",
        "village",
        "latitude",
        "longitude",
        "model_id",
        "install_date",
        "uplink_id",
        "mounting",
        "waspada_cm",
        "siaga_cm",
        "awas_cm",
    }
)


def _record(r: asyncpg.Record) -> DeviceRecord:
    d = dict(r.items())
    d["mounting"] = json.loads(d["mounting"] or "{}")
    return DeviceRecord(**d)


def _where(f: DeviceFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        placeholders = []
        for v in values:
            args.append(v)
            placeholders.append(f"${len(args)}")
        clauses.append(sql.format(*placeholders))

    if f.kind:
        add("d.kind = {}", f.kind)
    if f.district:
        add("lower(d.district) = lower({})", f.district)
    if f.status:
        add("d.status = {}", f.status)
    if f.batch:
        add("d.batch = {}", f.batch)
    if f.ids is not None:
        add("d.id = ANY({}::text[])", list(f.ids))
    if f.bbox:
        min_lon, min_lat, max_lon, max_lat = f.bbox
        add(
            "d.longitude BETWEEN {} AND {} AND d.latitude BETWEEN {} AND {}",
            min_lon,
            max_lon,
            min_lat,
            max_lat,
        )
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        add(
            "(d.id ILIKE {0} OR d.name ILIKE {0} OR coalesce(d.village, '') ILIKE {0}"
            " OR coalesce(d.district, '') ILIKE {0} OR d.mounting::text ILIKE {0})",
            pattern,
        )
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_devices(
    pool: asyncpg.Pool, f: DeviceFilter, *, limit: int, offset: int
) -> tuple[int, list[DeviceRecord]]:
    where, args = _where(f)
    total = await pool.fetchval(f"SELECT count(*) FROM devices d{where}", *args)
    rows = await pool.fetch(
        f"{_SELECT}{where} ORDER BY d.id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return int(total), [_record(r) for r in rows]


async def list_devices_only(
    pool: asyncpg.Pool, f: DeviceFilter, *, limit: int, offset: int
) -> list[DeviceRecord]:
    """Like :func:`list_devices` without counting (exports, maps, label sheets)."""
    where, args = _where(f)
    rows = await pool.fetch(
        f"{_SELECT}{where} ORDER BY d.id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [_record(r) for r in rows]


async def get_record(
    conn: Conn | asyncpg.Pool, device_id: str, *, lock: bool = False
) -> DeviceRecord | None:
    suffix = " FOR UPDATE OF d" if lock else ""
    r = await conn.fetchrow(f"{_SELECT} WHERE d.id = $1{suffix}", device_id)
    return None if r is None else _record(r)


async def existing_kinds(conn: Conn | asyncpg.Pool, ids: Sequence[str]) -> dict[str, str]:
    """Kind of each of ``ids`` that is registered, keyed by the upper-cased id: ids are
    unique regardless of case (``devices_id_upper_idx``, migration 0014)."""
    rows = await conn.fetch(
        "SELECT upper(id) AS key, kind FROM devices WHERE upper(id) = ANY($1::text[])",
        [i.upper() for i in ids],
    )
    return {r["key"]: r["kind"] for r in rows}


async def insert_devices(
    conn: Conn, devices: Sequence[NewDevice], *, actor: str, action: str, batch: str | None
) -> None:
    """Devices, their first credentials and a journal entry each; caller holds a transaction."""
    if not devices:
        return
    await conn.copy_records_to_table(
        "devices",
        columns=[
            "id", "kind", "name", "status", "district", "village", "latitude", "longitude",
            "model_id", "install_date", "uplink_id", "mounting", "waspada_cm", "siaga_cm",
            "awas_cm", "batch",
        ],
        records=[
            (
                d.id, d.kind, d.name, d.status, d.district, d.village, d.latitude, d.longitude,
                d.model_id, d.install_date, d.uplink_id, json.dumps(d.mounting), d.waspada_cm,
                d.siaga_cm, d.awas_cm, batch,
            )
            for d in devices
        ],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "device_credentials",
        columns=["device_id", "password_hash"],
        records=[(d.id, d.password_hash) for d in devices],
    )
    await conn.copy_records_to_table(
        "device_journal",
        columns=["device_id", "actor", "action", "changes", "note"],
        records=[
            (d.id, actor, action, json.dumps(_registration_changes(d)), batch) for d in devices
        ],
    )


def _registration_changes(d: NewDevice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "kind", "name", "status", "district", "village", "latitude", "longitude", "model_id",
        "install_date", "uplink_id", "mounting", "waspada_cm", "siaga_cm", "awas_cm",
    ):  # fmt: skip
        value = getattr(d, name)
        if value is None or value in ("", {}):
            continue
        out[name] = [None, value.isoformat() if isinstance(value, date) else value]
    return out


async def update_device(conn: Conn, device_id: str, values: dict[str, Any]) -> None:
    bad = set(values) - UPDATABLE - {"status"}
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    if not values:
        return
    sets, args = [], [device_id]
    for name, value in values.items():
        args.append(json.dumps(value) if name == "mounting" else value)
        cast = "::jsonb" if name == "mounting" else ""
        sets.append(f"{name} = ${len(args)}{cast}")
    await conn.execute(
        f"UPDATE devices SET {', '.join(sets)}, updated_at = now() WHERE id = $1", *args
    )


async def add_journal(
    conn: Conn | asyncpg.Pool,
    device_id: str,
    *,
    actor: str,
    action: str,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO device_journal (device_id, actor, action, changes, note)"
        " VALUES ($1, $2, $3, $4::jsonb, $5)",
        device_id,
        actor,
        action,
        json.dumps(changes or {}, default=str),
        note,
    )


async def list_journal(
    pool: asyncpg.Pool, device_id: str, *, limit: int = 200
) -> list[JournalEntry]:
    rows = await pool.fetch(
        "SELECT id, device_id, at, actor, action, changes::text AS changes, note"
        " FROM device_journal WHERE device_id = $1 ORDER BY id DESC LIMIT $2",
        device_id,
        limit,
    )
    out = []
    for r in rows:
        d = dict(r.items())
        d["changes"] = json.loads(d["changes"])
        out.append(JournalEntry(**d))
    return out


async def revoke_credentials(conn: Conn, device_id: str) -> bool:
    status = await conn.execute(
        "UPDATE device_credentials SET revoked_at = now()"
        " WHERE device_id = $1 AND revoked_at IS NULL",
        device_id,
    )
    return not status.endswith(" 0")


async def insert_credential(conn: Conn, device_id: str, password_hash: str) -> None:
    await conn.execute(
        "INSERT INTO device_credentials (device_id, password_hash) VALUES ($1, $2)",
        device_id,
        password_hash,
    )


async def broker_accounts(conn: Conn | asyncpg.Pool) -> list[BrokerAccount]:
    """Every live device credential, for the broker's password and ACL files."""
    rows = await conn.fetch(
        "SELECT c.device_id, d.kind, c.password_hash FROM device_credentials c"
        " JOIN devices d ON d.id = c.device_id"
        " WHERE c.revoked_at IS NULL AND d.status <> 'decommissioned' ORDER BY c.device_id"
    )
    return [BrokerAccount(**dict(r.items())) for r in rows]


async def credentials_fingerprint(conn: Conn | asyncpg.Pool) -> str:
    """Changes whenever a credential is issued or revoked (a cheap 'is a resync due?')."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(revoked_at) AS revoked, max(id) AS last,"
        " max(revoked_at) AS last_revoked FROM device_credentials"
    )
    assert row is not None
    return f"{row['n']}:{row['revoked']}:{row['last']}:{row['last_revoked']}"


async def unregistered_publishers(
    pool: asyncpg.Pool, *, topic_root: str, limit: int = 200
) -> list[UnregisteredPublisher]:
    """Devices whose telemetry was refused as 'unknown_device' and that are still unknown."""
    rows = await pool.fetch(
        "SELECT dl.device_id, min(dl.received_at) AS first_seen,"
        " max(dl.received_at) AS last_seen, count(*) AS messages,"
        " (array_agg(dl.topic ORDER BY dl.id DESC))[1] AS topic"
        " FROM dead_letters dl"
        " WHERE dl.code = 'unknown_device' AND dl.device_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = dl.device_id)"
        " GROUP BY dl.device_id ORDER BY max(dl.received_at) DESC LIMIT $1",
        limit,
    )
    prefix = topic_root.rstrip("/") + "/"
    out = []
    for r in rows:
        topic: str = r["topic"]
        kind = topic[len(prefix) :].split("/")[0] if topic.startswith(prefix) else None
        out.append(
            UnregisteredPublisher(
                r["device_id"], kind, r["first_seen"], r["last_seen"], int(r["messages"])
            )
        )
    return out


async def insert_model(conn: Conn | asyncpg.Pool, m: DeviceModel) -> None:
    await conn.execute(
        "INSERT INTO device_models (id, kind, manufacturer, model) VALUES ($1, $2, $3, $4)",
        m.id,
        m.kind,
        m.manufacturer,
        m.model,
    )


async def list_models(conn: Conn | asyncpg.Pool) -> list[DeviceModel]:
    rows = await conn.fetch("SELECT id, kind, manufacturer, model FROM device_models ORDER BY id")
    return [DeviceModel(**dict(r.items())) for r in rows]
