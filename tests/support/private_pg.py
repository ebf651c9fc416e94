"""A private, migrated PostgreSQL cluster that a test may stop, restart or kill."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from citysense.local.ports import free_port
from citysense.local.postgres import LocalPostgres, scratch_dir
from core.storage.migrate import migrate


@dataclass
class PrivatePg:
    server: LocalPostgres
    url: str

    def ensure_running(self) -> None:
        if not self.server.datadir.joinpath("postmaster.pid").exists():
            self.server.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePg]:
    base = scratch_dir()
    server = LocalPostgres(base / "pgdata", free_port())
    server.init()
    server.start()
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE citysense")
        url = server.dsn("citysense")
        migrate(url, retention_days=730)
        yield PrivatePg(server, url)
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
