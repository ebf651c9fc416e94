"""Database servers for the benchmarks, one per storage path (not a benchmark itself).

``postgresql``: ``CITYSENSE_BENCH_DATABASE_URL`` (a server-level URL), else the test
support's server (the machine's PostgreSQL on 127.0.0.1:5432, or a private cluster).
``timescaledb``: ``CITYSENSE_BENCH_TIMESCALE_URL``, else a private cluster started from
``CITYSENSE_BENCH_PG_BINDIR`` (or ``CITYSENSE_TEST_PG_BINDIR``): a PostgreSQL bin directory
whose server has the extension (``../shared/timescaledb/install`` prints one on this machine
kind), with the extension preloaded and its policy scheduler on, as in production.
``CITYSENSE_BENCH_PATHS`` (default ``postgresql,timescaledb``) picks the paths.
Used by ``bench/ingest.py`` and ``bench/query.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citysense.local.ports import free_port
from citysense.local.postgres import LocalPostgres, scratch_dir
from tests.support.services import postgres_server

PATHS = ("postgresql", "timescaledb")
TIMESCALE_CONF = (
    "\n# citysense bench: TimescaleDB path, policies running\n"
    "shared_preload_libraries = 'timescaledb'\n"
    "timescaledb.telemetry_level = off\n"
)


def wanted_paths() -> list[str]:
    paths = [
        p.strip()
        for p in os.environ.get("CITYSENSE_BENCH_PATHS", ",".join(PATHS)).split(",")
        if p.strip()
    ]
    if not paths or set(paths) - set(PATHS):
        raise SystemExit(f"CITYSENSE_BENCH_PATHS takes {', '.join(PATHS)}, not {paths}")
    return paths


@contextmanager
def server_url(path: str) -> Iterator[str]:
    """A server-level URL for ``path``: given, or (TimescaleDB) a private cluster."""
    if path == "postgresql":
        url = os.environ.get("CITYSENSE_BENCH_DATABASE_URL")
        if url:
            yield url
        else:
            with postgres_server() as machine:
                yield machine
        return
    url = os.environ.get("CITYSENSE_BENCH_TIMESCALE_URL")
    if url:
        yield url
        return
    bindir = os.environ.get("CITYSENSE_BENCH_PG_BINDIR") or os.environ.get(
        "CITYSENSE_TEST_PG_BINDIR"
    )
    if not bindir:
        raise SystemExit(
            "no TimescaleDB server: set CITYSENSE_BENCH_TIMESCALE_URL, or CITYSENSE_BENCH_PG_BINDIR"
            " to a PostgreSQL bin directory with the extension (../shared/timescaledb/install"
            " prints one), or run only CITYSENSE_BENCH_PATHS=postgresql"
        )
    base = scratch_dir("citysense-bench-pg-")
    server = LocalPostgres(base / "pgdata", free_port(), bindir=Path(bindir))
    server.init()
    with (server.datadir / "postgresql.conf").open("a") as conf:
        conf.write(TIMESCALE_CONF)
    server.start()
    try:
        yield server.dsn()
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
