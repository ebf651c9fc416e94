"""Migrations: idempotent, recorded, concurrent-safe; tables match the kind declarations."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from core.kinds import BUILTIN_KINDS, DeviceKind, FieldType, KindRegistry, TelemetryField
from core.storage import timescale
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


def test_migrate_twice_and_concurrently_applies_each_version_once(
    pg_server_url: str, storage_path: str
) -> None:
    with scratch_database(pg_server_url, "citysense_migrate") as url:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: migrate(url, retention_days=30), range(4)))
        applied = sorted(v for r in results for v in r.applied)
        assert applied == [m.version for m in bundled_migrations()]
        again = migrate(url, retention_days=30)
        assert again.applied == []
        assert again.storage_path == storage_path  # the path this run tests
        with psycopg.connect(url) as conn:
            meta = dict(conn.execute("SELECT key, value FROM citysense_meta").fetchall())
            versions = [
                r[0]
                for r in conn.execute("SELECT version FROM citysense_migrations ORDER BY version")
            ]
        assert meta["storage_path"] == storage_path
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


def test_migrate_keeps_policy_jobs_and_moves_their_windows_with_retention(
    pg_server_url: str, storage_path: str
) -> None:
    """TimescaleDB: each migrate keeps the same retention and refresh jobs (ids, history),
    and their windows follow the retention setting. Plain PostgreSQL: no jobs; the setting
    is recorded for prune."""

    def jobs(url: str) -> list[tuple[int, str, str]]:
        with psycopg.connect(url) as conn:
            if storage_path != "timescaledb":
                assert conn.execute(timescale.DETECT).fetchone() is None
                return []
            rows = conn.execute(
                "SELECT job_id, hypertable_name,"
                " coalesce(config->>'drop_after', config->>'start_offset')"
                " FROM timescaledb_information.jobs WHERE proc_name IN"
                " ('policy_retention', 'policy_refresh_continuous_aggregate') ORDER BY job_id"
            ).fetchall()
            return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    with scratch_database(pg_server_url, "citysense_jobs") as url:
        migrate(url, retention_days=730)
        first = jobs(url)
        migrate(url, retention_days=30)
        second = jobs(url)
        migrate(url, retention_days=30)
        assert jobs(url) == second
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT value FROM citysense_meta WHERE key = 'retention_days'"
            ).fetchone()
            assert row == ("30",)
    if storage_path == "timescaledb":
        assert len(first) == 2 * len(BUILTIN_KINDS)
        assert {w for _, _, w in first} == {"730 days"}
        assert [(i, t) for i, t, _ in second] == [(i, t) for i, t, _ in first]
        assert {w for _, _, w in second} == {"30 days"}
    else:
        assert first == second == []
