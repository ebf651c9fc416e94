"""Migrations: idempotent, recorded, concurrent-safe; tables match the kind declarations."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from core.kinds import BUILTIN_KINDS, DeviceKind, FieldType, KindRegistry, TelemetryField
from core.storage.ddl import SQL_TYPES
from core.storage.migrate import bundled_migrations, migrate
from tests.support.services import scratch_database


def test_every_kind_table_has_the_declared_columns(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for kind in BUILTIN_KINDS:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = %s ORDER BY ordinal_position",
                (kind.table,),
            ).fetchall()
            got = dict(rows)
            assert got.pop("device_id") == "text"
            assert got.pop("time") == "timestamp with time zone"
            assert got.pop("received_at") == "timestamp with time zone"
            assert got == {f.name: SQL_TYPES[f.type] for f in kind.fields}, kind.name
            pk = conn.execute(
                "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                " WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (kind.table,),
            ).fetchone()
            assert pk is not None
            assert sorted(pk[0]) == ["device_id", "time"]


def test_migrate_twice_and_concurrently_applies_each_version_once(pg_server_url: str) -> None:
    with scratch_database(pg_server_url, "citysense_migrate") as url:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: migrate(url, retention_days=30), range(4)))
        applied = sorted(v for r in results for v in r.applied)
        assert applied == [m.version for m in bundled_migrations()]
        again = migrate(url, retention_days=30)
        assert again.applied == []
        assert again.storage_path == "postgresql"  # this machine has no TimescaleDB
        with psycopg.connect(url) as conn:
            meta = dict(conn.execute("SELECT key, value FROM citysense_meta").fetchall())
            versions = [
                r[0]
                for r in conn.execute("SELECT version FROM citysense_migrations ORDER BY version")
            ]
        assert meta["storage_path"] == "postgresql"
        assert meta["retention_days"] == "30"
        assert versions == [m.version for m in bundled_migrations()]


def test_kind_declarations_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="invalid telemetry field name"):
        TelemetryField("Drop Table", FieldType.FLOAT)
    with pytest.raises(ValueError, match="needs choices"):
        TelemetryField("mode", FieldType.ENUM)
    with pytest.raises(ValueError, match="declares a field twice"):
        DeviceKind("x", "X", (TelemetryField("a", FieldType.FLOAT),) * 2)
    with pytest.raises(ValueError, match="declared twice"):
        KindRegistry([*BUILTIN_KINDS, BUILTIN_KINDS[0]])
