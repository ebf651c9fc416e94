"""Versioned SQL migrations: idempotent, recorded, serialised by an advisory lock.

Migrations are the ``NNNN_name.sql`` files in ``core/storage/migrations`` (plus any extra
:class:`Migration` a caller passes, as a plugin kind would). The storage path is detected
on the first migrate and recorded in ``citysense_meta``: ``timescaledb`` when the extension
can be created, ``postgresql`` otherwise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg

from core.storage import timescale

log = logging.getLogger(__name__)

# Any constant works, as long as every Citysense process uses the same one.
MIGRATION_LOCK_KEY = 0x43697479  # "City"

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS citysense_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS citysense_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrateResult:
    storage_path: str
    applied: list[int]


def bundled_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("core.storage.migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def _detect(conn: psycopg.Connection, storage: str) -> str:
    """The path a new database takes: TimescaleDB when the server can serve it, plain
    PostgreSQL when it has no TimescaleDB (or ``storage`` says so); a set-up that would
    half-work is refused with one line saying what to do."""
    if storage == "postgresql":
        return "postgresql"
    installed = conn.execute(timescale.DETECT).fetchone()
    if installed is None and conn.execute(timescale.AVAILABLE).fetchone() is None:
        if storage == "timescaledb":
            raise timescale.SetupError(
                "CITYSENSE_STORAGE=timescaledb, but this PostgreSQL server has no TimescaleDB"
                " extension: install it (or use a TimescaleDB image), or set it to auto"
            )
        return "postgresql"
    # checked before CREATE EXTENSION: without preloading, that ends the server's session
    # ("the connection is closed") instead of saying why
    if not conn.execute(timescale.PRELOADED).fetchone()[0]:  # type: ignore[index]
        raise timescale.SetupError(timescale.NOT_PRELOADED)
    try:
        with conn.transaction():  # a savepoint: an Apache-only build leaves nothing behind
            conn.execute(timescale.CREATE_EXTENSION)
            # loaded now, so this is the build's own licence
            if conn.execute(timescale.LICENSE).fetchone()[0] == "apache":  # type: ignore[index]
                raise _ApacheOnlyError
    except _ApacheOnlyError:
        if storage == "timescaledb":
            raise timescale.SetupError(timescale.APACHE_ONLY.split(":", 1)[0]) from None
        log.warning(timescale.APACHE_ONLY)
        return "postgresql"
    timescale.check_version(str(conn.execute(timescale.DETECT).fetchone()[0]))  # type: ignore[index]
    return "timescaledb"


class _ApacheOnlyError(Exception):
    """Internal: rolls the savepoint back when the extension turns out to be Apache-only."""


def _storage_path(conn: psycopg.Connection, storage: str) -> str:
    row = conn.execute("SELECT value FROM citysense_meta WHERE key = 'storage_path'").fetchone()
    if row is not None:
        return str(row[0])
    path = _detect(conn, storage)
    conn.execute("INSERT INTO citysense_meta (key, value) VALUES ('storage_path', %s)", (path,))
    return path


def _check_timescale(conn: psycopg.Connection) -> None:
    """On each migrate of a TimescaleDB database: still preloaded, recent enough, and able
    to compress (a server switched to the Apache build would fail on the first policy)."""
    installed = conn.execute(timescale.DETECT).fetchone()
    if installed is None or not conn.execute(timescale.PRELOADED).fetchone()[0]:  # type: ignore[index]
        raise timescale.SetupError(timescale.NOT_PRELOADED)
    timescale.check_version(str(installed[0]))
    if conn.execute(timescale.LICENSE).fetchone()[0] == "apache":  # type: ignore[index]
        raise timescale.SetupError(
            "this database is on the TimescaleDB path but the server now runs the Apache-2"
            " build (timescaledb.license = 'apache'): set timescaledb.license = 'timescale'"
        )


def _rollups(conn: psycopg.Connection, relkind: str) -> list[tuple[str, str, list[str]]]:
    rows = conn.execute(
        "SELECT k.readings_table, c.relname,"
        " array_agg(substr(a.attname, 1, length(a.attname) - 4) ORDER BY a.attnum)"
        " FROM citysense_kinds k"
        " JOIN pg_class c ON c.relname = 'rollup_' || k.kind || '_1h' AND c.relkind = %s"
        "  AND c.relnamespace = current_schema()::regnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        "  AND a.attname LIKE '%%\\_sum'"
        " GROUP BY k.readings_table, c.relname ORDER BY c.relname",
        (relkind,),
    ).fetchall()
    return [(str(r[0]), str(r[1]), list(r[2])) for r in rows]


def plain_rollups(conn: psycopg.Connection) -> list[tuple[str, str, list[str]]]:
    """(readings table, rollup table, numeric fields) of every rollup still a plain table."""
    return _rollups(conn, "r")


def aggregate_rollups(conn: psycopg.Connection) -> list[tuple[str, str, list[str]]]:
    """The same for every rollup that is a continuous aggregate (its user view)."""
    return _rollups(conn, "v")


def _apply_timescale(
    conn: psycopg.Connection, migrations: Sequence[Migration], retention_days: int
) -> None:
    """Hypertables and policies for every readings table; hourly rollups become continuous
    aggregates (same name and columns), and the read-only role's grants are re-applied."""
    for (table,) in conn.execute("SELECT readings_table FROM citysense_kinds").fetchall():
        for stmt in timescale.hypertable_statements(str(table), retention_days):
            conn.execute(stmt.encode())
    outdated = {str(r[0]) for r in conn.execute(timescale.OUTDATED_AGGREGATES.encode())}
    for readings, rollup, fields in aggregate_rollups(conn):
        if rollup in outdated:  # an older definition (NULL-blind last): define it again
            log.warning("re-creating continuous aggregate %s (NULL-skipping last)", rollup)
            conn.execute(f"DROP MATERIALIZED VIEW {rollup}".encode())
            stmts = timescale.continuous_aggregate_statements(
                readings, rollup, fields, retention_days
            )
        else:
            stmts = timescale.aggregate_policy_statements(rollup, retention_days)
        for stmt in stmts:
            conn.execute(stmt.encode())
    for readings, rollup, fields in plain_rollups(conn):
        for stmt in timescale.continuous_aggregate_statements(
            readings, rollup, fields, retention_days
        ):
            conn.execute(stmt.encode())
    for m in migrations:
        if m.name == "grafana":  # grants are per relation: the views need them again
            conn.execute(m.sql.encode())


def migrate(
    dsn: str,
    *,
    retention_days: int,
    extra: Iterable[Migration] = (),
    storage: str = "auto",
) -> MigrateResult:
    """Apply every pending migration; safe to run concurrently from several processes.

    ``storage`` (``auto``, ``postgresql``, ``timescaledb``) chooses the path of a new
    database; an existing one keeps the path it was created with. Raises
    :class:`core.storage.timescale.SetupError` (one line saying what to do) for a
    TimescaleDB server that cannot serve it as set up.
    """
    if storage not in ("auto", "postgresql", "timescaledb"):
        raise ValueError(f"storage must be auto, postgresql or timescaledb, not {storage!r}")
    migrations: Sequence[Migration] = sorted(
        [*bundled_migrations(), *extra], key=lambda m: m.version
    )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {versions}")
    applied: list[int] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            with conn.transaction():
                conn.execute(_BOOTSTRAP)
                path = _storage_path(conn, storage)
                if path == "timescaledb":
                    _check_timescale(conn)
            done = {r[0] for r in conn.execute("SELECT version FROM citysense_migrations")}
            for m in migrations:
                if m.version in done:
                    continue
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO citysense_migrations (version, name) VALUES (%s, %s)",
                        (m.version, m.name),
                    )
                applied.append(m.version)
                log.info("applied migration %04d_%s", m.version, m.name)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO citysense_meta (key, value) VALUES ('retention_days', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(retention_days),),
                )
                if path == "timescaledb":
                    _apply_timescale(conn, migrations, retention_days)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return MigrateResult(storage_path=path, applied=applied)
