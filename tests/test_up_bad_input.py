"""``citysense up`` refuses expected failures in one line that names the fix, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citysense.commands import UsageError
from citysense.local.ports import free_port
from citysense.local.postgres import LocalPostgres, scratch_dir
from citysense.up.datadir import prepare
from tests.support.up import clean_env


@pytest.fixture
def home() -> Iterator[Path]:
    base = scratch_dir("citysense-up-bad-")
    yield base
    import shutil

    shutil.rmtree(base, ignore_errors=True)


def up_fails(home: Path, *args: str, **env: str) -> str:
    """Run ``citysense up``; assert it exits 2 with exactly one line on stderr; return it."""
    proc = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "up", "--no-demo", *args],
        env=clean_env(home, **env),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("citysense: ")
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_configured_api_port_in_use(home: Path, taken_port: int) -> None:
    line = up_fails(home, CITYSENSE_API_PORT=str(taken_port))
    assert f"port {taken_port} on 127.0.0.1 is already in use" in line
    assert "CITYSENSE_API_PORT" in line
    line = up_fails(home, "--port", str(taken_port))
    assert "already in use" in line


def test_data_directory_from_a_newer_postgresql(home: Path) -> None:
    pgdata = home / "data" / "citysense" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("99\n")
    line = up_fails(home)
    assert "made by a newer PostgreSQL 99" in line
    assert "install PostgreSQL 99" in line
    assert "move" in line
    (pgdata / "PG_VERSION").write_text("9\n")
    line = up_fails(home)
    assert "made by PostgreSQL 9" in line
    assert "pg_upgrade" in line


def test_missing_postgresql_binaries(home: Path) -> None:
    line = up_fails(home, CITYSENSE_PG_BINDIR=str(home / "no-such-bin"))
    assert "no PostgreSQL server binaries" in line


def test_missing_mosquitto_binary(home: Path, database_url: str) -> None:
    line = up_fails(
        home,
        CITYSENSE_DATABASE_URL=database_url,
        CITYSENSE_MOSQUITTO_BIN=str(home / "no-such-mosquitto"),
    )
    assert "not an executable mosquitto" in line
    assert "apt-get install mosquitto" in line


def test_wrong_database_url_names_the_setting_and_hides_the_password(home: Path) -> None:
    url = f"postgresql://citysense:s3cret-pw@127.0.0.1:{free_port()}/citysense"
    line = up_fails(home, CITYSENSE_DATABASE_URL=url)
    assert "cannot connect to the database at" in line
    assert "CITYSENSE_DATABASE_URL" in line
    assert "s3cret-pw" not in line


def test_external_broker_not_answering(home: Path, database_url: str) -> None:
    port = free_port()
    line = up_fails(home, CITYSENSE_DATABASE_URL=database_url, CITYSENSE_MQTT_PORT=str(port))
    assert f"no MQTT broker answers at 127.0.0.1:{port}" in line


def test_postgresql_left_running_by_an_earlier_run(home: Path) -> None:
    pgdata = home / "data" / "citysense" / "pgdata"
    pgdata.parent.mkdir(parents=True, mode=0o755)
    pgdata.parent.chmod(0o755)
    (home / "data").chmod(0o755)
    stray = LocalPostgres(pgdata, free_port())
    stray.init()
    stray.start()
    try:
        line = up_fails(home)
        assert "is still running on" in line
        assert f"pg_ctl -D {pgdata} -m fast -w stop" in line  # test_up_crash runs it
    finally:
        stray.stop()


def test_root_data_dir_the_postgres_user_cannot_enter(home: Path) -> None:
    closed = home / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    if os.geteuid() == 0:
        with pytest.raises(UsageError, match=r"cannot enter .*closed.*--data-dir"):
            prepare(closed / "citysense")
    else:  # a normal user's servers run as that user, who can enter their own directories
        assert prepare(closed / "citysense").is_dir()


def test_default_api_port_taken_falls_back_to_a_free_one(taken_port: int) -> None:
    from citysense.up.ports import api_socket

    sock = api_socket("127.0.0.1", taken_port, configured=False)
    try:
        assert sock.getsockname()[1] not in (taken_port, 0)
    finally:
        sock.close()


def test_ctrl_c_while_starting_unwinds_what_was_started(home: Path) -> None:
    from tests.support.up import UpProcess, leftovers

    up = UpProcess(
        [sys.executable, "-m", "citysense.cli", "up"], clean_env(home), home, home / "up.log"
    )
    pidfile = home / "data" / "citysense" / "pgdata" / "postmaster.pid"
    deadline = time.monotonic() + 60
    while not pidfile.exists() and up.popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pidfile.exists(), up.output()
    code = up.interrupt()
    assert code == 0, up.output()
    assert "Traceback" not in up.output()
    assert "Citysense is up" not in up.output()
    time.sleep(0.5)
    assert leftovers(up.popen.pid, str(home)) == [], up.output()
    assert not pidfile.exists()
