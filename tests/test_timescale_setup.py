"""A TimescaleDB server set up so it would half-work is refused in one line that says what to
do, or (the Apache-2 build, which lacks compression and continuous aggregates) served on the
plain path with a warning saying why.

On the TimescaleDB run these start private clusters from that run's PostgreSQL bin
directory: one without ``shared_preload_libraries`` (as a distribution package leaves it),
one with ``timescaledb.license = 'apache'``. On the plain run the machine's server has no
TimescaleDB, and asking for it is refused the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from citysense.local.ports import free_port
from citysense.local.postgres import LocalPostgres, scratch_dir
from core.storage import timescale
from core.storage.migrate import migrate
from tests.support.services import _timescale_bindir, scratch_database

ROOT = Path(__file__).resolve().parent.parent


def _cli_migrate(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYSENSE_DATABASE_URL": url}
    return subprocess.run(
        [str(Path(sys.executable).parent / "citysense"), "db", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cluster() -> Iterator[LocalPostgres]:
    base = scratch_dir()
    server = LocalPostgres(base / "pgdata", free_port(), bindir=_timescale_bindir())
    server.init()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


def _configure(server: LocalPostgres, lines: str) -> None:
    server.stop()
    with (server.datadir / "postgresql.conf").open("a") as conf:
        conf.write(lines)
    server.start()


def _path_of(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('citysense_meta')").fetchone() == (None,):
            return None
        row = conn.execute("SELECT value FROM citysense_meta WHERE key = 'storage_path'").fetchone()
    return None if row is None else str(row[0])


def test_bad_timescaledb_set_ups_get_one_clear_line(
    request: pytest.FixtureRequest,
    storage_path: str,
    pg_server_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if storage_path == "postgresql":
        with scratch_database(pg_server_url, "citysense_setup") as url:
            with pytest.raises(timescale.SetupError, match="has no TimescaleDB extension"):
                migrate(url, retention_days=730, storage="timescaledb")
            assert migrate(url, retention_days=730).storage_path == "postgresql"
        return

    server: LocalPostgres = request.getfixturevalue("cluster")
    # installed, not preloaded: CREATE EXTENSION would end the session without a reason
    server.start()
    with scratch_database(server.dsn(), "citysense_setup") as url:
        with pytest.raises(timescale.SetupError) as refused:
            migrate(url, retention_days=730)
        assert str(refused.value) == timescale.NOT_PRELOADED
        assert _path_of(url) is None, "nothing recorded: the next migrate decides again"
        cli = _cli_migrate(url)
        assert cli.returncode != 0
        assert "Traceback" not in cli.stderr
        assert "shared_preload_libraries = 'timescaledb'" in cli.stderr.strip().splitlines()[-1]
        # the operator's other choice: plain PostgreSQL on purpose
        assert migrate(url, retention_days=730, storage="postgresql").storage_path == ("postgresql")

    # the Apache-2 build: no compression, no continuous aggregates
    _configure(
        server,
        "\nshared_preload_libraries = 'timescaledb'\ntimescaledb.license = 'apache'\n"
        "timescaledb.max_background_workers = 0\ntimescaledb.telemetry_level = off\n",
    )
    with scratch_database(server.dsn(), "citysense_setup") as url:
        with pytest.raises(timescale.SetupError, match="Apache-2 build"):
            migrate(url, retention_days=730, storage="timescaledb")
        with caplog.at_level(logging.WARNING, logger="core.storage.migrate"):
            assert migrate(url, retention_days=730).storage_path == "postgresql"
        assert "lacks compression and continuous aggregates" in caplog.text
        with psycopg.connect(url) as conn:
            assert conn.execute(timescale.DETECT).fetchone() is None


def test_a_timescaledb_older_than_needed_is_refused_naming_the_update() -> None:
    timescale.check_version("2.13.0")
    timescale.check_version("2.28.3")
    with pytest.raises(timescale.SetupError, match="ALTER EXTENSION timescaledb UPDATE"):
        timescale.check_version("2.11.2")
    assert timescale.version_tuple("2.17.2-dev") == (2, 17, 2)
